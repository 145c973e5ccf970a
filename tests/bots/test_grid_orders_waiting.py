"""A grid's read shows the orders of its ladder that wait to be placed again (refused by the
exchange or cancelled by someone else), and when: a grid whose orders are all refused otherwise
reads as an ordinary running bot. Read rows carry only these parts of the grid's state."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from autogrid.bots import repository
from autogrid.bots.schemas import bot_read
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import Bot, User
from tests.bots.factories import GRID_BODY, create_bot, grid_body, read_bot, set_status
from tests.helpers import ApiUser

# As ``GridState.to_dict`` stores them (the rest of the grid's state is never read for this).
WAITING_STATE: dict[str, Any] = {
    "strategy": {
        "phase": "running",
        "unplaced": [3, 1],
        "unplaced_buys": {"2": "0.01", "0": "0.02"},
        "backoff": {"refusals": 3, "retry_at": "2026-03-02T07:04:00+00:00"},
    }
}
SHOWN = {
    "sell_levels": [1, 3],
    "buy_levels": [0, 2],
    "refusals": 3,
    "retry_at": "2026-03-02T07:04:00Z",
}


async def test_a_grid_shows_its_orders_waiting_and_then_none(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    grid = await create_bot(client, user, grid_body())
    assert (await read_bot(client, user, grid["id"]))["orders_waiting"] is None

    await set_status(db, grid["id"], "running", state=WAITING_STATE)
    assert (await read_bot(client, user, grid["id"]))["orders_waiting"] == SHOWN

    # Placed again: nothing waits (its back-off kept for the next refusal).
    placed = {"strategy": {**WAITING_STATE["strategy"], "unplaced": [], "unplaced_buys": {}}}
    await set_status(db, grid["id"], "running", state=placed)
    assert (await read_bot(client, user, grid["id"]))["orders_waiting"] is None


@pytest.mark.parametrize(
    "strategy",
    [
        {"phase": "running"},  # stored before refusals were kept
        {"unplaced": [4], "unplaced_buys": {}},  # no back-off stored with them
    ],
)
async def test_older_grid_states_read(
    client: httpx.AsyncClient, user: ApiUser, db: Database, strategy: dict[str, Any]
) -> None:
    grid = await create_bot(client, user, grid_body())
    await set_status(db, grid["id"], "running", state={"strategy": strategy})
    shown = (await read_bot(client, user, grid["id"]))["orders_waiting"]
    if "unplaced" in strategy:
        assert shown == {"sell_levels": [4], "buy_levels": [], "refusals": 0, "retry_at": None}
    else:
        assert shown is None


async def test_a_read_row_shows_what_the_bot_shows(database_url: str) -> None:
    """The read row's JSON paths (``#>`` on PostgreSQL, ``json_extract`` on SQLite) give the
    read the ORM object gives, waiting orders included."""
    database = Database.from_settings(Settings(database_url=database_url))
    try:
        owner = uuid.uuid4()
        async with database.session_scope() as session:
            session.add(User(id=owner, email=f"{owner.hex}@example.com", password_hash="x"))
            await session.flush()
            for name, state in (("waiting", WAITING_STATE), ("none", {})):
                session.add(
                    Bot(
                        user_id=owner,
                        name=name,
                        type="grid",
                        exchange="binance",
                        symbol="BTC/USDT",
                        paper=GRID_BODY["paper"],
                        config={"strategy": GRID_BODY["config"], "breaker": {}},
                        state=state,
                    )
                )
        async with database.session_scope() as session:
            objects = {bot.name: bot for bot in (await session.scalars(select(Bot))).all()}
            rows, _ = await repository.list_bots(
                session, owner, statuses=(), types=(), limit=10, offset=0
            )
            for row in rows:
                assert bot_read(row) == bot_read(objects[row.name])
        shown = {row.name: bot_read(row).model_dump(mode="json") for row in rows}
        assert shown["waiting"]["orders_waiting"] == SHOWN
        assert shown["none"]["orders_waiting"] is None
    finally:
        await database.dispose()
