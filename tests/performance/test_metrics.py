"""Performance samples: recorded once per slot (a second run or a second beat adds nothing), and
bucketed by plain SQL with the same answer on PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from autogrid.core.db import Database
from autogrid.models import BotMetric
from autogrid.performance.recorder import record_metrics, slot_of
from autogrid.performance.repository import bucketed, timescale_installed
from tests.support.factories import count_rows, make_bot, make_user, set_bot

D = Decimal
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


SAMPLES = [(0, "100"), (14, "101"), (15, "103"), (44, "102"), (90, "99.5"), (179, "104")]


async def store_samples(database: Database) -> uuid.UUID:
    bot_id = await make_bot(database, await make_user(database))
    async with database.session_scope() as session:
        for minutes, equity in SAMPLES:
            session.add(
                BotMetric(
                    bot_id=bot_id,
                    ts=T0 + timedelta(minutes=minutes, seconds=7),
                    equity=D(equity),
                    realized_pnl=D("1.5"),
                    unrealized_pnl=D(equity) - 100,
                    position=D("0.001"),
                    price=None,
                )
            )
    return bot_id


async def test_plain_sql_buckets_agree_on_both_databases(database: Database) -> None:
    bot_id = await store_samples(database)
    async with database.session_scope() as session:
        hourly = await bucketed(
            session, bot_id, 3600, T0, T0 + timedelta(hours=3), 100, use_timescale=False
        )
        quarters = await bucketed(
            session, bot_id, 900, T0, T0 + timedelta(hours=3), 100, use_timescale=False
        )
    assert [(p.ts, p.equity) for p in hourly] == [
        (T0, D("102")),
        (T0 + timedelta(hours=1), D("99.5")),
        (T0 + timedelta(hours=2), D("104")),
    ]
    assert [(p.ts - T0, p.equity) for p in quarters] == [
        (timedelta(0), D("101")),
        (timedelta(minutes=15), D("103")),
        (timedelta(minutes=30), D("102")),
        (timedelta(minutes=90), D("99.5")),
        (timedelta(minutes=165), D("104")),
    ]
    assert hourly[0].realized_pnl == D("1.5") and hourly[0].price is None


async def test_time_bucket_answers_like_plain_sql_where_timescale_is_installed(
    database: Database,
) -> None:
    async with database.session_scope() as session:
        installed = await timescale_installed(session)
    if not installed:
        pytest.skip("TimescaleDB is not installed on this server: only the plain path runs here")
    bot_id = await store_samples(database)
    end = T0 + timedelta(hours=3)
    async with database.session_scope() as session:
        for seconds in (60, 900, 3600, 86400):
            plain = await bucketed(session, bot_id, seconds, T0, end, 100, use_timescale=False)
            timescale = await bucketed(session, bot_id, seconds, T0, end, 100, use_timescale=True)
            assert timescale == plain, seconds


async def test_a_slot_is_recorded_once_however_often_the_task_runs(database: Database) -> None:
    user_id = await make_user(database)
    running = await make_bot(database, user_id, status="running", investment="1000")
    await make_bot(database, user_id, status="stopped")
    ledger = {
        "position": "0.01",
        "cost": "990",
        "realized": "5",
        "fees": "1",
        "bought": "0.02",
        "sold": "0.01",
        "volume": "2000",
        "buys": 2,
        "sells": 1,
    }
    await set_bot(database, running, state={"ledger": ledger, "last_price": "100000"})
    now = T0 + timedelta(seconds=47)

    assert await record_metrics(database, now) == 1
    await record_metrics(database, now + timedelta(seconds=5))  # same 30 s slot
    assert await count_rows(database, BotMetric) == 1
    async with database.session_scope() as session:
        (point,) = await bucketed(
            session, running, 60, T0, T0 + timedelta(hours=1), 10, use_timescale=False
        )
    assert slot_of(now) == T0 + timedelta(seconds=30)
    assert point.unrealized_pnl == D("10")  # 0.01 x 100000 - 990
    assert point.equity == D("1015")  # 1000 invested + 5 realized + 10 unrealized


async def test_the_fleet_gauges_show_bots_needing_their_owner_and_late_ticks(
    database: Database,
) -> None:
    user_id = await make_user(database)
    now = T0 + timedelta(minutes=10)
    on_time = await make_bot(database, user_id, status="running")
    late = await make_bot(database, user_id, status="running", tick_interval_seconds=5)
    await set_bot(database, on_time, last_tick_at=now - timedelta(seconds=3))
    # No tick has run for 100 s: 95 s past the tick that was due 5 s after the last one.
    await set_bot(database, late, last_tick_at=now - timedelta(seconds=100))
    for status in ("error", "error", "halted", "stopped"):
        await make_bot(database, user_id, status=status)

    await record_metrics(database, now)

    def gauge(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert gauge("autogrid_bots", status="error") == 2
    assert gauge("autogrid_bots", status="halted") == 1
    assert gauge("autogrid_bots", status="running") == 2
    assert gauge("autogrid_bots", status="paused") == 0  # every status, present or not
    assert gauge("autogrid_running_bots") == 2
    assert gauge("autogrid_tick_lag_seconds") == 95
    assert gauge("autogrid_metrics_recorded_timestamp_seconds") == now.timestamp()

    later = now + timedelta(seconds=30)
    for bot_id in (on_time, late):  # the workers caught up
        await set_bot(database, bot_id, last_tick_at=later - timedelta(seconds=1))
    await record_metrics(database, later)
    assert gauge("autogrid_tick_lag_seconds") == 0
