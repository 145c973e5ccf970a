"""Authenticated encryption of exchange secrets: AES-256-GCM under versioned master keys.

Blob layout (every encrypted field)::

    offset  size  content
    0       1     format, 0x01
    1       4     key id, big-endian (see ``key_id_of``)
    5       12    random nonce
    17      n+16  AES-GCM ciphertext of the UTF-8 plaintext, then its 16-byte tag

Associated data binds the blob to where it belongs: the table, the row id, the owner id, the field
name and the 5-byte header. A blob copied to another row, another user's row or another column
(or with its key id edited) fails authentication instead of decrypting.

Key ids: ``ENCRYPTION_KEYS`` lists keys newest first, so a key's position changes every time one
is added; its id therefore comes from the key itself (the first 31 bits of a SHA-256 of it, domain
separated), which never changes, identifies the right key among any set, and fits the signed
32-bit ``key_version`` column. Decryption uses whichever configured key has the blob's id; a blob
whose key was removed raises ``UnknownKeyError`` naming that id. Encryption always uses the newest
(first) key. Nothing here logs, and no message carries a key or a plaintext.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from autogrid.core.config import ENCRYPTION_KEY_BYTES, Settings, decode_key

FORMAT_V1 = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_BYTES = 4
HEADER_BYTES = 1 + KEY_ID_BYTES
MIN_BLOB_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
_KEY_ID_DOMAIN = b"autogrid/encryption-key-id/v1\x00"
_AAD_DOMAIN = b"autogrid/exchange_credentials/v1"
_KEY_ID_MASK = 0x7FFF_FFFF  # 31 bits: always a positive PostgreSQL INTEGER


class CredentialCryptoError(Exception):
    """A secret could not be encrypted or decrypted. Messages never hold key material."""


class UnknownKeyError(CredentialCryptoError):
    """The blob was encrypted under a key that ENCRYPTION_KEYS no longer lists."""

    def __init__(self, key_id: int, configured: Iterable[int]) -> None:
        ids = ", ".join(str(i) for i in configured) or "none"
        super().__init__(
            f"encrypted under key id {key_id}, which is not in ENCRYPTION_KEYS (configured key "
            f"ids: {ids}); put that key back in ENCRYPTION_KEYS, after the newest, and run "
            "`autogrid rotate-keys`"
        )
        self.key_id = key_id


class DecryptionError(CredentialCryptoError):
    """The blob is malformed, altered, or belongs to another row, owner or field."""


@dataclass(frozen=True, slots=True)
class SecretContext:
    """Where a ciphertext belongs; bound as associated data."""

    row_id: uuid.UUID
    owner_id: uuid.UUID
    field: str

    def associated_data(self, header: bytes) -> bytes:
        return b"\x00".join(
            (_AAD_DOMAIN, self.row_id.bytes, self.owner_id.bytes, self.field.encode(), header)
        )


def key_id_of(key: bytes) -> int:
    """The stable id of a master key (what the ``key_version`` column stores)."""
    digest = hashlib.sha256(_KEY_ID_DOMAIN + key).digest()
    return int.from_bytes(digest[:KEY_ID_BYTES], "big") & _KEY_ID_MASK


def blob_key_id(blob: bytes) -> int:
    """The key id written in a blob's header."""
    if len(blob) < MIN_BLOB_BYTES or blob[0] != FORMAT_V1:
        raise DecryptionError("ciphertext is malformed or of an unknown format")
    return int.from_bytes(blob[1:HEADER_BYTES], "big")


class KeyRing:
    """The configured master keys, newest first. Its repr shows key ids only."""

    __slots__ = ("_ciphers", "_ids")

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("ENCRYPTION_KEYS is empty; set at least one key (autogrid gen-key)")
        ciphers: dict[int, AESGCM] = {}
        seen: dict[int, bytes] = {}
        ids: list[int] = []
        for position, key in enumerate(keys, start=1):
            if len(key) != ENCRYPTION_KEY_BYTES:
                raise ValueError(
                    f"ENCRYPTION_KEYS entry {position} is not {ENCRYPTION_KEY_BYTES} bytes"
                )
            key_id = key_id_of(key)
            if key_id in seen:
                if seen[key_id] == key:  # the same key listed twice: harmless
                    continue
                raise ValueError(
                    f"ENCRYPTION_KEYS entry {position} has the same key id as an earlier entry; "
                    "generate a different key (autogrid gen-key)"
                )
            seen[key_id] = key
            ids.append(key_id)
            ciphers[key_id] = AESGCM(key)
        self._ids = tuple(ids)
        self._ciphers = ciphers

    @classmethod
    def from_strings(cls, keys: Sequence[str]) -> KeyRing:
        raw: list[bytes] = []
        for position, key in enumerate(keys, start=1):
            decoded = decode_key(key)
            if decoded is None:
                raise ValueError(
                    f"ENCRYPTION_KEYS entry {position} is not url-safe base64 of 32 bytes"
                )
            raw.append(decoded)
        return cls(raw)

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={list(self._ids)})"

    @property
    def newest_key_id(self) -> int:
        return self._ids[0]

    @property
    def key_ids(self) -> tuple[int, ...]:
        return self._ids

    def has_key(self, key_id: int) -> bool:
        return key_id in self._ciphers

    def encrypt(self, plaintext: str, context: SecretContext) -> bytes:
        """Encrypt under the newest key with a fresh random nonce."""
        key_id = self.newest_key_id
        header = bytes([FORMAT_V1]) + key_id.to_bytes(KEY_ID_BYTES, "big")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, plaintext.encode("utf-8"), context.associated_data(header)
        )
        return header + nonce + sealed

    def decrypt(self, blob: bytes, context: SecretContext) -> str:
        key_id = blob_key_id(blob)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(key_id, self._ids)
        header = blob[:HEADER_BYTES]
        nonce = blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            plaintext = cipher.decrypt(
                nonce, blob[HEADER_BYTES + NONCE_BYTES :], context.associated_data(header)
            )
        except InvalidTag:
            raise DecryptionError(
                f"the {context.field} ciphertext failed authentication: it was altered or "
                "belongs to another credential, owner or field"
            ) from None
        return plaintext.decode("utf-8")


@lru_cache(maxsize=8)
def _keyring_for(keys: tuple[str, ...]) -> KeyRing:
    return KeyRing.from_strings(keys)


def keyring_from_settings(settings: Settings) -> KeyRing:
    """The key ring for ``settings.encryption_keys`` (cached per distinct key list)."""
    return _keyring_for(tuple(settings.encryption_keys))
