"""AES-256-GCM with versioned keys and associated data: pure, no database."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autogrid.core.config import new_encryption_key
from autogrid.credentials.crypto import (
    FORMAT_V1,
    HEADER_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    DecryptionError,
    KeyRing,
    SecretContext,
    UnknownKeyError,
    blob_key_id,
    key_id_of,
)
from autogrid.credentials.service import mask_api_key

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
ROW = uuid.uuid4()
OWNER = uuid.uuid4()
CONTEXT = SecretContext(ROW, OWNER, "api_secret")


def test_round_trip_and_layout() -> None:
    ring = KeyRing([KEY_A])
    blob = ring.encrypt("s3cr3t-välue", CONTEXT)
    assert blob[0] == FORMAT_V1
    assert blob_key_id(blob) == key_id_of(KEY_A) == ring.newest_key_id
    assert len(blob) == HEADER_BYTES + NONCE_BYTES + len("s3cr3t-välue".encode()) + TAG_BYTES
    assert b"s3cr3t" not in blob
    assert ring.decrypt(blob, CONTEXT) == "s3cr3t-välue"


@given(st.text(max_size=300))
def test_round_trip_any_text(plaintext: str) -> None:
    ring = KeyRing([KEY_A])
    assert ring.decrypt(ring.encrypt(plaintext, CONTEXT), CONTEXT) == plaintext


def test_each_encryption_uses_a_fresh_nonce() -> None:
    ring = KeyRing([KEY_A])
    blobs = {ring.encrypt("same", CONTEXT) for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES] for blob in blobs}) == 50


@pytest.mark.parametrize(
    "elsewhere",
    [
        SecretContext(uuid.uuid4(), OWNER, "api_secret"),  # another row
        SecretContext(ROW, uuid.uuid4(), "api_secret"),  # another owner
        SecretContext(ROW, OWNER, "api_key"),  # another field
    ],
)
def test_bound_to_row_owner_and_field(elsewhere: SecretContext) -> None:
    ring = KeyRing([KEY_A])
    blob = ring.encrypt("bound", CONTEXT)
    with pytest.raises(DecryptionError, match="failed authentication"):
        ring.decrypt(blob, elsewhere)


@pytest.mark.parametrize("position", [0, 3, HEADER_BYTES, HEADER_BYTES + NONCE_BYTES, -1])
def test_any_altered_byte_is_detected(position: int) -> None:
    ring = KeyRing([KEY_A, KEY_B])
    blob = bytearray(ring.encrypt("tamper me", CONTEXT))
    blob[position] ^= 0x01
    with pytest.raises((DecryptionError, UnknownKeyError)):
        ring.decrypt(bytes(blob), CONTEXT)


def test_header_key_id_swapped_to_another_configured_key_fails() -> None:
    ring = KeyRing([KEY_A, KEY_B])
    blob = ring.encrypt("x", CONTEXT)
    forged = bytes([FORMAT_V1]) + key_id_of(KEY_B).to_bytes(4, "big") + blob[HEADER_BYTES:]
    with pytest.raises(DecryptionError):
        ring.decrypt(forged, CONTEXT)


@pytest.mark.parametrize("blob", [b"", b"\x01\x00", b"\x02" + b"\x00" * 40, b"\x01" * 20])
def test_malformed_blobs(blob: bytes) -> None:
    with pytest.raises(DecryptionError, match="malformed"):
        KeyRing([KEY_A]).decrypt(blob, CONTEXT)


def test_older_keys_still_decrypt_and_newest_encrypts() -> None:
    old_blob = KeyRing([KEY_A]).encrypt("old", CONTEXT)
    ring = KeyRing([KEY_B, KEY_A])  # a new key added at the front
    assert ring.decrypt(old_blob, CONTEXT) == "old"
    assert blob_key_id(ring.encrypt("new", CONTEXT)) == key_id_of(KEY_B)


def test_key_ids_do_not_depend_on_position() -> None:
    assert KeyRing([KEY_A, KEY_B]).key_ids == tuple(reversed(KeyRing([KEY_B, KEY_A]).key_ids))
    assert 0 <= key_id_of(KEY_A) < 2**31  # fits the signed INTEGER column
    assert key_id_of(KEY_A) != key_id_of(KEY_B)


def test_a_removed_key_is_a_clear_error() -> None:
    blob = KeyRing([KEY_A]).encrypt("x", CONTEXT)
    with pytest.raises(UnknownKeyError) as raised:
        KeyRing([KEY_B]).decrypt(blob, CONTEXT)
    message = str(raised.value)
    assert f"key id {key_id_of(KEY_A)}" in message
    assert "not in ENCRYPTION_KEYS" in message
    assert raised.value.key_id == key_id_of(KEY_A)


def test_repr_and_errors_never_show_key_material() -> None:
    ring = KeyRing([KEY_A, KEY_B])
    for key in (KEY_A, KEY_B):
        for form in (key.hex(), base64.urlsafe_b64encode(key).decode(), repr(key)):
            assert form not in repr(ring)
    assert repr(ring) == f"KeyRing(key_ids={[key_id_of(KEY_A), key_id_of(KEY_B)]})"


def test_from_strings_and_bad_configurations() -> None:
    encoded = new_encryption_key()
    ring = KeyRing.from_strings([encoded, encoded])  # the same key twice is harmless
    assert len(ring.key_ids) == 1
    with pytest.raises(ValueError, match="empty"):
        KeyRing([])
    with pytest.raises(ValueError, match="entry 2"):
        KeyRing.from_strings([encoded, "not-base64-of-32-bytes"])
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing([b"short"])


@pytest.mark.parametrize(
    ("api_key", "masked"),
    [
        ("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "vmPU...Eh8A"),
        ("0123456789abcdef", "0123...cdef"),
        ("0123456789abcde", "****"),  # under 16 characters: nothing shown
        ("abc", "****"),
    ],
)
def test_masking(api_key: str, masked: str) -> None:
    assert mask_api_key(api_key) == masked
