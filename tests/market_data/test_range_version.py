"""A range's version changes with every write of its series' candles in the range, and only
then: the backtest workers serve cached candles while it is unchanged. Equal versions, equal
candles, whatever was written in between (the property test at the end)."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from autogrid.core.db import Database
from autogrid.exchanges.types import CandleData
from autogrid.market_data.candle_upserts import upsert_candles
from autogrid.market_data.repository import RangeVersion, fetch_candles, range_version
from autogrid.market_data.service import import_candle_file
from tests.market_data.conftest import head_lines, write_gz

START = datetime(2025, 5, 20, tzinfo=UTC)
SRC = Path(__file__).resolve().parents[2] / "src" / "autogrid"


def minutes(count: int, price: str = "100") -> list[CandleData]:
    value = Decimal(price)
    return [
        CandleData(START + timedelta(minutes=at), value, value, value, value, Decimal(1))
        for at in range(count)
    ]


async def version(
    database: Database,
    symbol: str = "BTC/USDT",
    start: datetime = START,
    end: datetime = START + timedelta(days=1),
) -> RangeVersion:
    async with database.session_scope() as session:
        return await range_version(session, "binance", symbol, "1m", start, end)


async def upsert(database: Database, candles: list[CandleData], symbol: str = "BTC/USDT") -> None:
    async with database.session_scope() as session:
        await upsert_candles(session, "binance", symbol, "1m", candles)


async def test_a_candle_changed_in_the_middle_changes_the_version(database: Database) -> None:
    candles = minutes(10)
    await upsert(database, candles)
    before = await version(database)
    middle = replace(candles[5], close=Decimal("101"), high=Decimal("101"))

    await upsert(database, [middle])

    after = await version(database)
    assert (after.first, after.last) == (before.first, before.last)  # its ends cannot tell
    assert after != before


async def test_candles_added_change_the_version(database: Database) -> None:
    assert await version(database) == RangeVersion(None, None, 0)
    await upsert(database, minutes(5))
    five = await version(database)

    await upsert(database, minutes(6)[5:])

    assert five != await version(database) != RangeVersion(None, None, 0)


async def test_candles_added_after_the_last_keep_the_versions_of_the_ranges_before(
    database: Database,
) -> None:
    """A market's new candles, stored as they close: a sweep's cached range that ends before
    them stays cached; one they fall in is versioned anew by its last open time."""
    await upsert(database, minutes(10))
    before = await version(database, end=START + timedelta(minutes=10))
    whole = await version(database)

    await upsert(database, minutes(15)[10:])

    assert await version(database, end=START + timedelta(minutes=10)) == before
    grown = await version(database)
    assert (grown.writes, grown.last) == (whole.writes, START + timedelta(minutes=14))


async def test_a_candle_added_in_a_hole_changes_the_version(database: Database) -> None:
    """Added, not after the last: the range's ends cannot tell, the counter does."""
    candles = minutes(10)
    await upsert(database, candles[:5] + candles[6:])
    before = await version(database)

    await upsert(database, [candles[5]])

    after = await version(database)
    assert (after.first, after.last) == (before.first, before.last)
    assert after.writes == before.writes + 1


async def test_new_candles_written_with_a_change_to_the_last_change_the_version(
    database: Database,
) -> None:
    candles = minutes(10)
    await upsert(database, candles)
    before = await version(database, end=START + timedelta(minutes=10))
    corrected = replace(candles[9], close=Decimal("99"), low=Decimal("99"))

    await upsert(database, [corrected, *minutes(12)[10:]])

    assert await version(database, end=START + timedelta(minutes=10)) != before


async def test_writing_the_same_candles_again_keeps_the_version(database: Database) -> None:
    """A re-import that changes nothing keeps every cache of the series."""
    await upsert(database, minutes(10))
    before = await version(database)

    await upsert(database, minutes(10))

    assert await version(database) == before


async def test_another_series_written_keeps_the_version(database: Database) -> None:
    await upsert(database, minutes(10))
    before = await version(database)

    await upsert(database, minutes(10, "3000"), symbol="ETH/USDT")

    assert await version(database) == before


async def test_an_import_changing_a_candle_in_the_middle_changes_the_version(
    database: Database, tmp_path: Path
) -> None:
    lines = head_lines("binance_BTC_USDT-1m.csv.gz", 100)
    original = write_gz(tmp_path / "original.csv.gz", lines)
    ts, _open, high, _low, _close, volume = lines[51].strip().split(",")
    lines[51] = f"{ts},{high},{high},{high},{high},{volume}\n"
    corrected = write_gz(tmp_path / "corrected.csv.gz", lines)
    async with database.session_scope() as session:
        await import_candle_file(
            session, original, exchange="binance", symbol="BTC/USDT", timeframe="1m"
        )
    before = await version(database)

    async with database.session_scope() as session:
        report = await import_candle_file(
            session, corrected, exchange="binance", symbol="BTC/USDT", timeframe="1m"
        )

    assert report.updated == 1
    assert await version(database) != before


# Statements that write the candle table, in SQL text or SQLAlchemy, or a row made to be added.
WRITES = re.compile(
    r"(INSERT\s+INTO\s+ohlcv\b|UPDATE\s+ohlcv\b|DELETE\s+FROM\s+ohlcv\b|TRUNCATE\s+ohlcv\b"
    r"|copy_to_table\(\s*\"ohlcv\"|(insert|update|delete)\(\s*Candle\b|(?<!class )\bCandle\()",
    re.IGNORECASE,
)


def test_only_the_candle_writer_writes_candles() -> None:
    """Every write of ``ohlcv`` must bump its series' version (or a cache would serve candles
    older than the database's): the one module that writes it does; a new writer elsewhere has
    to go through it."""
    writers = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if WRITES.search(path.read_text(encoding="utf-8"))
    )

    assert writers == ["market_data/candle_upserts.py"]


async def test_two_writers_of_a_series_wait_for_each_other_without_deadlock(db: Database) -> None:
    """The series' counter is locked before any candle is written: a second writer waits there,
    holding no candle the first may go on to write (else each would wait for the other)."""
    later = [replace(candle, ts=candle.ts + timedelta(hours=2)) for candle in minutes(10)]
    theirs = [replace(candle, close=Decimal("99"), low=Decimal("99")) for candle in later]
    async with db.session_scope() as session:
        await upsert_candles(session, "binance", "BTC/USDT", "1m", minutes(10))
        other = asyncio.create_task(upsert(db, theirs))
        await waiting_on_a_lock(db, other)

        await upsert_candles(session, "binance", "BTC/USDT", "1m", later)  # theirs' candles

    await other
    async with db.session_scope() as session:
        stored = await fetch_candles(session, "binance", "BTC/USDT", "1m", later[0].ts)
    assert [candle.close for candle in stored] == [Decimal("99")] * 10  # theirs, written last
    assert (await version(db)).writes == 1  # theirs changed candles; the others only added


async def waiting_on_a_lock(db: Database, task: asyncio.Task[None]) -> None:
    """Returns once another connection of this database waits on a lock (``task``'s)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    while not task.done():
        async with db.session_scope() as session:
            if await session.scalar(query):
                return
        await asyncio.sleep(0.01)
    await task  # it finished without waiting: raise its error, if any
    raise AssertionError("the second writer did not wait for the first")


# A write: the minutes (0-11) it stores and the price they get (a re-write at the same price
# changes nothing). The ranges versioned: every [start, end) over those minutes and beyond.
WRITES_OF_MINUTES = st.lists(
    st.tuples(st.sets(st.integers(0, 11), min_size=1), st.sampled_from(["100", "101"])),
    min_size=1,
    max_size=6,
)
RANGES = [(start, end) for start in range(0, 13, 3) for end in range(start + 1, 14, 3)]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=WRITES_OF_MINUTES)
async def test_equal_versions_hold_equal_candles(
    database: Database, writes: list[tuple[set[int], str]]
) -> None:
    """After any sequence of writes (added after the last, in holes, before the first, changed,
    unchanged), a range whose version is one it had before holds the candles it had then: what
    a worker's cache relies on to serve them."""
    symbol = f"P{uuid.uuid4().hex[:12]}/USDT"  # a series of its own for each example
    seen: dict[tuple[int, int, RangeVersion], list[tuple[datetime, Decimal]]] = {}
    for stored, price in [(set(), "100"), *writes]:
        if stored:
            await upsert(database, [minutes(12, price)[at] for at in sorted(stored)], symbol)
        async with database.session_scope() as session:
            for start, end in RANGES:
                at = (START + timedelta(minutes=start), START + timedelta(minutes=end))
                versioned = await range_version(session, "binance", symbol, "1m", *at)
                held = await fetch_candles(session, "binance", symbol, "1m", *at)
                candles = [(candle.ts, candle.close) for candle in held]
                assert seen.setdefault((start, end, versioned), candles) == candles, writes
