"""A bot's read model made once per distinct read row (``bot_reads``): whatever changes a shown
column, by its owner or by the runtime, reads anew; a tick's bookkeeping and the list's total do
not; a DCA bot's read (its next scheduled buys move with time) is made at every read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from autogrid.bots import bot_reads, repository
from autogrid.bots.schemas import bot_read
from autogrid.core.db import Database
from autogrid.models import Bot
from tests.bots.factories import create_bot, grid_body, read_bot
from tests.bots.test_recurring_buys import buys_only
from tests.helpers import ApiUser

TRIPPED = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """The ids of the bots whose read model was made (not taken from memory), in order."""
    ids: list[uuid.UUID] = []

    def counted(bot: Any) -> Any:
        ids.append(bot.id)
        return bot_read(bot)

    monkeypatch.setattr(bot_reads, "bot_read", counted)
    monkeypatch.setattr(bot_reads, "_remembered", {})
    return ids


async def _as_built(db: Database, bot_id: str) -> dict[str, Any]:
    """The bot's read model built afresh from its ORM object, as JSON."""
    async with db.session_scope() as session:
        bot = await session.scalar(select(Bot).where(Bot.id == uuid.UUID(bot_id)))
        assert bot is not None
        body: dict[str, Any] = bot_read(bot).model_dump(mode="json")
        return body


# Each change a worker, the breaker or an edit makes to a shown column, written straight to the
# table as the runtime writes it (no API call that could clear anything on the way).
CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("status", {"status": "running", "started_at": TRIPPED}),
    ("error", {"status": "error", "error": "exchange said no"}),
    ("breaker", {"breaker_reason": "loss limit", "breaker_tripped_at": TRIPPED}),
    ("stopped", {"status": "stopped", "stop_initiator": "owner", "stopped_at": TRIPPED}),
    ("name", {"name": "renamed"}),
    ("tick", {"tick_interval_seconds": 60}),
    ("investment", {"investment": Decimal("4321.5")}),
    ("config", {"config": {**grid_body()["config"], "grid_count": 9}}),
    ("paper", {"paper": {**grid_body()["paper"], "balances": {"USDT": "1"}}}),
]


@pytest.mark.parametrize(("_name", "change"), CHANGES, ids=[name for name, _ in CHANGES])
async def test_a_changed_column_reads_anew(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    made: list[uuid.UUID],
    _name: str,
    change: dict[str, Any],
) -> None:
    bot = await create_bot(client, user, grid_body())
    before = await read_bot(client, user, bot["id"])
    async with db.session_scope() as session:
        row = await session.get(Bot, uuid.UUID(bot["id"]))
        assert row is not None
        for column, value in change.items():
            if column == "config":
                value = {**row.config, "strategy": value}
            setattr(row, column, value)

    after = await read_bot(client, user, bot["id"])

    assert after != before
    assert after == await _as_built(db, bot["id"])


async def test_an_unchanged_bot_is_made_once(
    client: httpx.AsyncClient, user: ApiUser, db: Database, made: list[uuid.UUID]
) -> None:
    bot = await create_bot(client, user, grid_body())
    first = await read_bot(client, user, bot["id"])
    # A tick's bookkeeping is no part of the read, nor is the list's total.
    await db_execute(
        db,
        "UPDATE bots SET next_tick_at = :at, lease_owner = 'worker-1', version = version + 1",
        {"at": datetime.now(UTC)},
    )
    await create_bot(client, user, grid_body(name="another"))
    again = await read_bot(client, user, bot["id"])

    assert again == first
    assert made.count(uuid.UUID(bot["id"])) == 1


async def test_a_dca_bot_is_made_at_every_read(
    client: httpx.AsyncClient, user: ApiUser, made: list[uuid.UUID]
) -> None:
    dca = await create_bot(client, user, buys_only())
    for _ in range(2):
        await read_bot(client, user, dca["id"])
    assert made.count(uuid.UUID(dca["id"])) == 4  # its next runs are read at the time of reading


async def test_the_memory_is_bounded(
    client: httpx.AsyncClient, user: ApiUser, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_reads, "MAX_REMEMBERED", 2)
    monkeypatch.setattr(bot_reads, "_remembered", {})
    for number in range(3):
        await create_bot(client, user, grid_body(name=f"grid {number}"))
    async with db.session_scope() as session:
        rows, _ = await repository.list_bots(
            session, user.id, statuses=(), types=(), limit=10, offset=0
        )
    for row in rows:
        bot_reads.bot_read_of_row(row)
    assert len(bot_reads._remembered) == 1


async def db_execute(db: Database, statement: str, values: dict[str, Any]) -> None:
    async with db.session_scope() as session:
        await session.execute(text(statement), values)
