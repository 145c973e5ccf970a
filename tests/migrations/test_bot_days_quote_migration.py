"""Migration 0019 gives each ``bot_days`` row its bot's quote: a USDT row's value in USDT is its
P&L, any other row's P&L stays unvalued (no rate was kept when it was booked), on PostgreSQL and
SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from tests.infra import create_database, drop_database, run_alembic
from tests.migrations.test_event_journal_migration import _run, _table

START = datetime(2026, 11, 1, tzinfo=UTC)
DAY = date(2026, 12, 6)


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot_days.db'}"
        return
    made = create_database("autogrid_bot_days_migration")
    try:
        yield made
    finally:
        drop_database(made)


def money(value: object) -> Decimal:
    return Decimal(str(value))


def test_existing_rows_take_their_bots_quote(url: str) -> None:
    run_alembic(url, "upgrade", "0016")
    user_id, usdt_bot, btc_bot = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    stamps = {"created_at": START, "updated_at": START}
    _run(url, insert(_table("users", "id", "email", "password_hash", "role", "plan", "is_active",
                            "created_at", "updated_at")).values(
        id=user_id, email="old@example.com", password_hash="x", role="user", plan="free",
        is_active=True, **stamps,
    ))  # fmt: skip
    bots = _table("bots", "id", "user_id", "name", "type", "exchange", "symbol", "mode", "config",
                  "status", "state", "tick_interval_seconds", "version", "created_at",
                  "updated_at")  # fmt: skip
    days = _table("bot_days", "bot_id", "day", "user_id", "realized_pnl")
    for bot_id, symbol, pnl in [(usdt_bot, "BTC/USDT", "-12.5"), (btc_bot, "ETH/BTC", "-0.002")]:
        _run(url, insert(bots).values(
            id=bot_id, user_id=user_id, name="old", type="grid", exchange="binance",
            symbol=symbol, mode="paper", config={}, status="stopped", state={},
            tick_interval_seconds=5, version=1, **stamps,
        ))  # fmt: skip
        _run(url, insert(days).values(bot_id=bot_id, day=DAY, user_id=user_id, realized_pnl=pnl))

    run_alembic(url, "upgrade", "0019")

    after = _table("bot_days", "bot_id", "quote", "realized_usdt", "unvalued_pnl", "usdt_rate")
    rows = {  # SQLite keeps money as text: compared as decimals
        bot: (quote, money(usdt), money(unvalued), None if rate is None else money(rate))
        for bot, quote, usdt, unvalued, rate in _run(url, select(after))
    }
    assert rows[usdt_bot] == ("USDT", Decimal("-12.5"), Decimal(0), Decimal(1))
    assert rows[btc_bot] == ("BTC", Decimal(0), Decimal("-0.002"), None)
    run_alembic(url, "downgrade", "0016")
