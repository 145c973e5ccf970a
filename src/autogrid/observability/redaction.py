"""Scrub secrets out of text before it reaches a log line.

Two layers: patterns for what a secret *looks like* (bearer tokens, JWTs, ``password=...`` style
pairs in query strings, headers, JSON and reprs, passwords inside connection URLs), and an exact
registry for secrets we *know* (exchange keys, once verified with the exchange or decrypted from
storage, so a ccxt message that echoes one is still cleaned; see ``secret_registry``).
Over-redaction is accepted: a log line that lost a harmless word costs nothing, one that leaked an
exchange key costs the user's funds.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from autogrid.observability.secret_registry import SecretRegistry

REDACTED = "[REDACTED]"


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


_registry = SecretRegistry()


def register_secret(value: str | None, *, owner: Hashable | None = None) -> None:
    """Redact this exact string from every log line from now on (values under 6 chars ignored).

    Only for values known to be real secrets (a verified or stored exchange key): whatever is
    registered disappears from every log line, so a user-chosen string would let its author blank
    out the logs. ``owner`` (a credential id) lets :func:`forget_secrets_of` drop them together.
    """
    if value:
        _registry.add(value, owner)


def unregister_secret(value: str) -> None:
    """Stop redacting a value."""
    _registry.discard(value)


def forget_secrets_of(owner: Hashable) -> int:
    """Stop redacting the values registered under ``owner``, e.g. a deleted credential's."""
    return _registry.discard_owner(owner)


def registered_secret_count() -> int:
    return len(_registry)


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
    text = _registry.redact(text, REDACTED)
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
