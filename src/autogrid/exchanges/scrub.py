"""Make exchange error text safe to store, log and show.

ccxt builds its messages from the request URL (query string with ``signature=`` and sometimes the
api key), response bodies and, for some exchanges, request headers. A message that reaches our
exceptions, logs or API responses must carry none of that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"
MAX_MESSAGE_CHARS = 600

# A query string says nothing we need and is where signed requests put their signature.
_URL_QUERY = re.compile(r"(?P<url>\bhttps?://[^\s?#\"'<>]+)\?[^\s\"'<>]*", re.IGNORECASE)
# name=value or "name": "value" pairs whose value is a credential or proof of one.
_SENSITIVE_NAMES = (
    r"signature|sign|api[_-]?key|apikey|secret|api[_-]?secret|passphrase|password|token"
    r"|access[_-]?key|x-mbx-apikey|ok-access-[a-z]+|kc-api-[a-z]+|x-bapi-[a-z-]+|authorization"
    r"|listenkey"
)
_PAIR = re.compile(
    rf"(?P<name>\b(?:{_SENSITIVE_NAMES}))(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s&\"',}}]+)",
    re.IGNORECASE,
)
# HMAC-SHA256/512 hex digests and long base64 blobs are signatures even without a name.
_HEX_DIGEST = re.compile(r"\b[0-9a-fA-F]{64,128}\b")
_LONG_BLOB = re.compile(r"\b[A-Za-z0-9+/_-]{48,}={0,2}")


def scrub_message(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove query strings, signatures, keys and the given secret strings from ``text``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, REDACTED)
    text = _URL_QUERY.sub(lambda m: f"{m.group('url')}?{REDACTED}", text)
    text = _PAIR.sub(lambda m: f"{m.group('name')}{m.group('sep')}{REDACTED}", text)
    text = _HEX_DIGEST.sub(REDACTED, text)
    text = _LONG_BLOB.sub(REDACTED, text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text
