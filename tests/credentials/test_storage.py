"""What the database holds: ciphertexts only, each bound to its row, owner and field."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.credentials.crypto import (
    FORMAT_V1,
    HEADER_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    DecryptionError,
    KeyRing,
    blob_key_id,
    keyring_from_settings,
)
from autogrid.credentials.service import open_secrets
from autogrid.models import ExchangeCredential
from tests.credentials.conftest import SimKey, create_credential, credential_url, new_sim_key
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser, assert_error_shape

pytestmark = pytest.mark.usefixtures("sim_app")


async def _raw_row(db: Database, credential_id: str) -> dict[str, Any]:
    async with db.engine.connect() as connection:
        result = await connection.execute(
            text("SELECT * FROM exchange_credentials WHERE id = :id"), {"id": credential_id}
        )
        return dict(result.mappings().one())


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value).encode()
    return str(value).encode()


async def test_the_database_holds_no_plaintext(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, db: Database
) -> None:
    key = new_sim_key(sim)
    credential = await create_credential(client, user, key)
    row = await _raw_row(db, credential["id"])
    everything = b"\x00".join(_as_bytes(value) for value in row.values())
    for secret in key.strings:
        for encoded in (secret.encode(), secret.encode("utf-16-le"), secret[8:-8].encode()):
            assert encoded not in everything
    assert row["api_key_masked"] == f"{key.api_key[:4]}...{key.api_key[-4:]}"


async def test_ciphertext_layout_and_key_version(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    db: Database,
    settings: Settings,
) -> None:
    key = new_sim_key(sim)
    credential = await create_credential(client, user, key)
    row = await _raw_row(db, credential["id"])
    keyring = keyring_from_settings(settings)
    assert row["key_version"] == keyring.newest_key_id
    for column, plaintext in [
        ("api_key_ciphertext", key.api_key),
        ("api_secret_ciphertext", key.secret),
        ("passphrase_ciphertext", key.passphrase),
    ]:
        blob = bytes(row[column])
        assert blob[0] == FORMAT_V1
        assert blob_key_id(blob) == keyring.newest_key_id
        assert len(blob) == HEADER_BYTES + NONCE_BYTES + len(plaintext) + TAG_BYTES


async def _credential_rows(db: Database) -> dict[uuid.UUID, ExchangeCredential]:
    async with db.session_scope() as session:
        rows = await session.execute(text("SELECT id FROM exchange_credentials"))
        ids = [row.id for row in rows]
        return {i: row for i in ids if (row := await session.get(ExchangeCredential, i))}


async def _copy_column(
    db: Database, source: str, target: str, from_column: str, to_column: str
) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                f"UPDATE exchange_credentials SET {to_column} = "
                f"(SELECT {from_column} FROM exchange_credentials WHERE id = :source) "
                "WHERE id = :target"
            ),
            {"source": source, "target": target},
        )


@pytest.mark.parametrize(
    ("target", "from_column", "to_column"),
    [
        # Same owner, another row.
        ("mine", "api_secret_ciphertext", "api_secret_ciphertext"),
        # Another owner's row.
        ("theirs", "api_secret_ciphertext", "api_secret_ciphertext"),
        # Same row, another field.
        ("self", "api_secret_ciphertext", "api_key_ciphertext"),
        ("self", "api_key_ciphertext", "passphrase_ciphertext"),
    ],
)
async def test_a_ciphertext_moved_elsewhere_does_not_decrypt(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    sim: BinanceSimulator,
    db: Database,
    settings: Settings,
    target: str,
    from_column: str,
    to_column: str,
) -> None:
    source_key = new_sim_key(sim)
    source = await create_credential(client, user, source_key, label="source")
    targets: dict[str, tuple[ApiUser, SimKey, dict[str, Any]]] = {
        "self": (user, source_key, source)
    }
    if target == "mine":
        key = new_sim_key(sim)
        targets["mine"] = (user, key, await create_credential(client, user, key, label="mine"))
    if target == "theirs":
        key = new_sim_key(sim)
        targets["theirs"] = (other_user, key, await create_credential(client, other_user, key))
    owner, _, victim = targets[target]

    await _copy_column(db, source["id"], victim["id"], from_column, to_column)

    keyring = keyring_from_settings(settings)
    rows = await _credential_rows(db)
    with pytest.raises(DecryptionError) as raised:
        open_secrets(keyring, rows[uuid.UUID(victim["id"])], register=False)
    for secret in source_key.strings:
        assert secret not in str(raised.value)
    # Through the API: a clear server-side error that leaks nothing.
    response = await client.post(credential_url(victim["id"], "/validate"), headers=owner.headers)
    assert_error_shape(response, 500, "credential_unreadable")
    for secret in source_key.strings:
        assert secret not in response.text
    # The source row itself is untouched and still verifies.
    if target != "self":
        ok = await client.post(credential_url(source["id"], "/validate"), headers=user.headers)
        assert ok.status_code == 200, ok.text


async def test_ciphertexts_differ_for_equal_secrets(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, db: Database
) -> None:
    key = new_sim_key(sim)
    first = await create_credential(client, user, key, label="one")
    second = await create_credential(client, user, key, label="two")
    a, b = await _raw_row(db, first["id"]), await _raw_row(db, second["id"])
    assert bytes(a["api_secret_ciphertext"]) != bytes(b["api_secret_ciphertext"])
    nonce = slice(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES)
    assert bytes(a["api_key_ciphertext"])[nonce] != bytes(b["api_key_ciphertext"])[nonce]


async def test_decrypted_row_matches_what_was_sent(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    db: Database,
    settings: Settings,
) -> None:
    key = new_sim_key(sim)
    credential = await create_credential(client, user, key)
    rows = await _credential_rows(db)
    secrets = open_secrets(
        keyring_from_settings(settings), rows[uuid.UUID(credential["id"])], register=False
    )
    assert (secrets.api_key, secrets.secret, secrets.passphrase) == key.strings
    assert key.secret not in repr(secrets)
    # Under an unrelated key ring the same row is unreadable, with a clear message.
    stranger = KeyRing([b"\x07" * 32])
    with pytest.raises(Exception, match="not in ENCRYPTION_KEYS"):
        open_secrets(stranger, rows[uuid.UUID(credential["id"])], register=False)
