"""Scrub secrets out of text before it reaches a log line.

Two layers: patterns for what a secret *looks like* (bearer tokens, JWTs, ``password=...`` style
pairs in query strings, headers, JSON and reprs, passwords inside connection URLs), and an exact
registry for secrets we *know* (decrypted exchange keys are registered the moment they exist, so a
ccxt message that echoes one is still cleaned). Over-redaction is accepted: a log line that lost a
harmless word costs nothing, one that leaked an exchange key costs the user's funds.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"

# Shorter registered values would blank out ordinary words and numbers all over the logs; real
# API keys, secrets and passphrases are far longer than this.
MIN_REGISTERED_SECRET_LENGTH = 6

# A key name counts as sensitive when it contains one of these words (case-insensitive), so
# `api_secret`, `newPassword`, `X-MBX-APIKEY`, `refresh_token` and `client_secret` all match.
_SENSITIVE_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "signature",
    "api_key",
    "api-key",
    "apikey",
    "token",
    "authorization",
    "private_key",
    "privatekey",
    "cookie",
)
_SENSITIVE_KEY = r"[\w-]*(?:" + "|".join(re.escape(word) for word in _SENSITIVE_WORDS) + r")[\w-]*"
_SENSITIVE_NAME = re.compile(_SENSITIVE_KEY, re.IGNORECASE)
# Nested structures deeper than this are rendered as a placeholder rather than walked.
_MAX_DEPTH = 6

# key=value / key: value / "key": "value" / 'key': 'value'. The value is a quoted string (any
# content), or an optional auth scheme plus a run of characters up to a delimiter.
_KEY_VALUE = re.compile(
    r"(?P<key>(?P<quote>[\"']?)\b" + _SENSITIVE_KEY + r"(?P=quote)\s*[:=]\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
    r"|(?:(?:bearer|basic|token)\s+)?[^\s&,;\"'})\]]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<scheme>bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
# A JWT (or any base64url JSON object, which is how JWTs start: `{"` encodes to `eyJ`).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}")
# scheme://user:password@host - a DATABASE_URL or REDIS_URL in an error message.
_URL_PASSWORD = re.compile(r"(?P<prefix>\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/?#\s]+(?=@)")

# asyncpg echoes a value it could not encode ("invalid input for query argument $1: 'a@b.c' (...)")
# into its message, past SQLAlchemy's hide_parameters: whatever a client sent stays out of logs.
_DRIVER_ARGUMENT = re.compile(r"(?P<prefix>invalid input for query argument \$\d+[^:\n]*:)[^\n]*")


class _SecretRegistry:
    """Exact strings to redact, matched longest first so a secret containing another wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < MIN_REGISTERED_SECRET_LENGTH:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._pattern = None

    def discard(self, value: str) -> None:
        with self._lock:
            if value in self._values:
                self._values.discard(value)
                self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # A secret sent in a query string or form body shows up percent-encoded.
                forms = {
                    form
                    for value in self._values
                    for form in (value, quote(value, safe=""), quote_plus(value))
                }
                ordered = sorted(forms, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(value) for value in ordered))
            return self._pattern


_registry = _SecretRegistry()


def register_secret(value: str | None) -> None:
    """Redact this exact string from every log line from now on (values under 6 chars ignored)."""
    if value:
        _registry.add(value)


def unregister_secret(value: str) -> None:
    """Stop redacting a value, e.g. after its credential was deleted."""
    _registry.discard(value)


def clear_registered_secrets() -> None:
    """Forget every registered value (tests)."""
    _registry.clear()


def _redact_pair(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in {'"', "'"} else ""
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


def scrub(text: str) -> str:
    """Return ``text`` with every recognisable or registered secret replaced by [REDACTED]."""
    if not text:
        return text
    registered = _registry.pattern()
    if registered is not None:
        text = registered.sub(REDACTED, text)
    text = _DRIVER_ARGUMENT.sub(lambda match: f"{match.group('prefix')} {REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda match: match.group("prefix") + REDACTED, text)
    text = _KEY_VALUE.sub(_redact_pair, text)
    text = _BEARER.sub(lambda match: f"{match.group('scheme')} {REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def is_sensitive_name(name: str) -> bool:
    """Whether a field, header or parameter name says its value is a secret."""
    return _SENSITIVE_NAME.fullmatch(name) is not None


def scrub_value(value: Any, *, _depth: int = 0) -> Any:
    """Scrub strings inside dicts, lists and tuples; values under a sensitive key are redacted."""
    if isinstance(value, str):
        return scrub(value)
    if _depth >= _MAX_DEPTH and isinstance(value, dict | list | tuple):
        return "[nested]"
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and is_sensitive_name(key)
            else scrub_value(item, _depth=_depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(item, _depth=_depth + 1) for item in value]
    return value
