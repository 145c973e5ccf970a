"""Source tokens: random, shown once, stored only as their SHA-256.

A token has 256 bits of randomness, so a plain (unsalted) hash is safe to store and lets a post
find its source by one indexed equality lookup: guessing a hash prefix buys nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "ags_"  # noqa: S105  (a marker, not a secret)
DISPLAY_CHARS = 10  # "ags_" and 6 random characters: enough to recognise, useless to guess


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_CHARS]


def same_hash(stored: str, presented: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(stored.encode(), presented.encode())
