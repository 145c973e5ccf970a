"""``autogrid rotate-keys``: A -> (B, A) -> rotate -> B alone reads everything."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from autogrid.app import create_app
from autogrid.core.config import Settings, new_encryption_key
from autogrid.core.db import Database
from autogrid.credentials.cli import rotate_keys_command
from autogrid.credentials.crypto import KeyRing, UnknownKeyError, blob_key_id
from autogrid.credentials.rotation import rotate_credentials
from autogrid.credentials.service import open_secrets, seal_secrets
from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.types import ApiCredentials
from autogrid.models import ExchangeCredential
from tests.credentials.conftest import (
    SimKey,
    create_credential,
    credential_url,
    new_sim_key,
    simulator_factory,
)
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser, assert_error_shape
from tests.infra import LIFESPAN_TIMEOUTS

pytestmark = pytest.mark.usefixtures("sim_app")


def with_keys(settings: Settings, *keys: str) -> Settings:
    return settings.model_copy(update={"encryption_keys": list(keys)})


async def invoke(settings: Settings, *args: str) -> Result:
    """The command runs its own event loop, so it runs in a worker thread."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, rotate_keys_command, list(args), obj=settings)


@asynccontextmanager
async def app_client(settings: Settings, sim: BinanceSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """Another API process, configured with ``settings``."""
    application = create_app(settings)
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        application.state.connector_factory = simulator_factory(sim, MemoryBudgets())
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def add_rows(
    db: Database, keyring: KeyRing, user_id: uuid.UUID, count: int, prefix: str = "bulk"
) -> dict[uuid.UUID, ApiCredentials]:
    """Rows written straight to the database (no exchange call), encrypted under ``keyring``."""
    made: dict[uuid.UUID, ApiCredentials] = {}
    async with db.session_scope() as session:
        for i in range(count):
            row_id = uuid.uuid4()
            secrets = ApiCredentials(f"key-{uuid.uuid4().hex}", f"secret-{uuid.uuid4().hex}")
            sealed = seal_secrets(keyring, row_id, user_id, secrets)
            session.add(
                ExchangeCredential(
                    id=row_id,
                    user_id=user_id,
                    exchange="binance",
                    label=f"{prefix} {i}",
                    api_key_masked="****",
                    api_key_ciphertext=sealed.api_key,
                    api_secret_ciphertext=sealed.api_secret,
                    passphrase_ciphertext=sealed.passphrase,
                    key_version=sealed.key_version,
                    sandbox=False,
                )
            )
            made[row_id] = secrets
    return made


async def all_rows(db: Database) -> list[ExchangeCredential]:
    async with db.session_scope() as session:
        return list((await session.scalars(select(ExchangeCredential))).all())


async def test_rotate_then_drop_the_old_key(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    sim: BinanceSimulator,
    db: Database,
    settings: Settings,
) -> None:
    key_a = settings.encryption_keys[0]
    key_b = new_encryption_key()
    ring_a, ring_b = KeyRing.from_strings([key_a]), KeyRing.from_strings([key_b])
    # Under key A: two credentials through the API (one with a passphrase), plus bulk rows.
    via_api: dict[uuid.UUID, tuple[ApiUser, SimKey]] = {}
    for owner in (user, other_user):
        key = new_sim_key(sim)
        created = await create_credential(client, owner, key)
        via_api[uuid.UUID(created["id"])] = (owner, key)
    bulk = await add_rows(db, ring_a, user.id, 23)
    assert {row.key_version for row in await all_rows(db)} == {ring_a.newest_key_id}

    # B alone cannot read them yet: a clear error, not garbage.
    some_id = next(iter(bulk))
    with pytest.raises(UnknownKeyError):
        open_secrets(ring_b, next(r for r in await all_rows(db) if r.id == some_id))

    # Deploy "B,A": everything stays readable; rotate in batches of 10.
    result = await invoke(with_keys(settings, key_b, key_a), "--batch-size", "10")
    assert result.exit_code == 0, result.output
    assert "rotated 25, already current 0, failed 0, pending 0" in result.output

    rows = await all_rows(db)
    assert len(rows) == 25
    for row in rows:
        assert row.key_version == ring_b.newest_key_id
        assert blob_key_id(row.api_key_ciphertext) == ring_b.newest_key_id
        assert blob_key_id(row.api_secret_ciphertext) == ring_b.newest_key_id
        if row.passphrase_ciphertext is not None:
            assert blob_key_id(row.passphrase_ciphertext) == ring_b.newest_key_id

    # Now "B" alone: every row decrypts to what was stored ...
    for row in rows:
        secrets = open_secrets(ring_b, row, register=False)
        if row.id in bulk:
            assert secrets == bulk[row.id]
        else:
            sent = via_api[row.id][1]
            assert (secrets.api_key, secrets.secret, secrets.passphrase) == sent.strings
    # ... and an API configured with B alone verifies the keys with the exchange.
    async with app_client(with_keys(settings, key_b), sim) as only_b:
        for credential_id, (owner, _) in via_api.items():
            response = await only_b.post(
                credential_url(credential_id, "/validate"), headers=owner.headers
            )
            assert response.status_code == 200, response.text

    # Running it again changes nothing.
    again = await invoke(with_keys(settings, key_b, key_a))
    assert again.exit_code == 0, again.output
    assert "rotated 0, already current 25" in again.output


async def test_without_rotation_dropping_the_key_is_a_clear_api_error(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, settings: Settings
) -> None:
    credential = await create_credential(client, user, new_sim_key(sim))
    async with app_client(with_keys(settings, new_encryption_key()), sim) as only_new:
        listed = await only_new.get("/api/v1/credentials", headers=user.headers)
        assert listed.json()["total"] == 1  # listing needs no decryption
        response = await only_new.post(
            credential_url(credential["id"], "/validate"), headers=user.headers
        )
    assert_error_shape(response, 500, "credential_unreadable")
    assert "encryption key" in response.json()["error"]["message"]


async def test_rows_locked_elsewhere_are_skipped_then_rotated_and_edits_survive(
    user: ApiUser, db: Database, settings: Settings
) -> None:
    key_a, key_b = settings.encryption_keys[0], new_encryption_key()
    ring_a, ring_ba = KeyRing.from_strings([key_a]), KeyRing.from_strings([key_b, key_a])
    made = await add_rows(db, ring_a, user.id, 5)
    busy_id = sorted(made)[2]

    # Another transaction (an API request, say) holds one row and renames it.
    async with db.engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(
            text("SELECT id FROM exchange_credentials WHERE id = :id FOR UPDATE"), {"id": busy_id}
        )
        await connection.execute(
            text("UPDATE exchange_credentials SET label = 'renamed meanwhile' WHERE id = :id"),
            {"id": busy_id},
        )
        report = await asyncio.wait_for(
            rotate_credentials(db, ring_ba, batch_size=2, passes=1), timeout=10
        )
        assert (report.rotated, report.pending, report.failed) == (4, 1, {})
        assert not report.ok
        await transaction.commit()

    report = await rotate_credentials(db, ring_ba, batch_size=2, passes=1)
    assert (report.rotated, report.already_current, report.pending) == (1, 4, 0)
    rows = {row.id: row for row in await all_rows(db)}
    assert rows[busy_id].label == "renamed meanwhile"
    ring_b = KeyRing.from_strings([key_b])
    for row_id, secrets in made.items():
        assert open_secrets(ring_b, rows[row_id], register=False) == secrets


async def test_rows_whose_key_is_gone_are_reported_and_fail_the_command(
    user: ApiUser, db: Database, settings: Settings
) -> None:
    key_a, key_b = settings.encryption_keys[0], new_encryption_key()
    lost_key = KeyRing.from_strings([new_encryption_key()])
    good = await add_rows(db, KeyRing.from_strings([key_a]), user.id, 3, prefix="good")
    orphans = await add_rows(db, lost_key, user.id, 2, prefix="orphan")

    result = await invoke(with_keys(settings, key_b, key_a), "--batch-size", "2")
    assert result.exit_code == 1
    assert "rotated 3, already current 0, failed 2" in result.output
    for orphan_id in orphans:
        assert f"failed {orphan_id}: encrypted under key id {lost_key.newest_key_id}" in (
            result.output
        )
    rows = {row.id: row for row in await all_rows(db)}
    ring_b = KeyRing.from_strings([key_b])
    assert all(open_secrets(ring_b, rows[i], register=False) == s for i, s in good.items())


async def test_bad_key_configuration_is_a_usage_error(settings: Settings, db: Database) -> None:
    result = await invoke(with_keys(settings))
    assert result.exit_code == 1
    assert "ENCRYPTION_KEYS is empty" in result.output
