"""A user's next sweep over the same candles reads none of them from the database, the market's
new candles stored since after its range or not; a candle written since, even in the middle of
the range, is never served from a cache."""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from autogrid.backtest.candle_cache import CandleCache
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.exchanges.types import CandleData
from autogrid.market_data import repository as candles_repository
from autogrid.market_data.candle_upserts import upsert_candles
from autogrid.market_data.service import import_candle_file
from autogrid.trading.candles import CandleArrays
from tests.backtest.api.conftest import (
    CANDLE_ROWS,
    RecordingQueue,
    body,
    comparable,
    direct_results,
    row_of,
)
from tests.backtest.api.test_sweep_candle_cache import (
    RSI,
    create_sweep,
    database_loads,
    rsi_sweep,
    run_all,
    stored_and_alone,
)
from tests.helpers import ApiUser
from tests.shared_data import shared_file

CHANGED_ROWS = range(1000, 2000)  # in the middle of the range: its first and last open time stay
SCALE = Decimal("0.8")  # their prices: a drop the RSI runs trade differently on


async def test_the_next_sweep_over_the_same_candles_reads_none_from_the_database(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same worker process keeps them; a new one (a restarted worker, the machine's other
    processes) reads the file the first wrote. Every run still equals itself run alone."""
    loads = database_loads(monkeypatch)
    first = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40]}))
    second = await create_sweep(client, user, rsi_sweep({"buy_below": [45, 50]}))
    third = await create_sweep(client, user, rsi_sweep({"period": [7], "buy_below": [40]}))
    worker, restarted = CandleCache(), CandleCache()

    await run_all(settings, worker, [run["id"] for run in first["runs"]])
    await run_all(settings, worker, [run["id"] for run in second["runs"]])
    await run_all(settings, restarted, [run["id"] for run in third["runs"]])

    assert (worker.loads, restarted.loads, loads.calls) == (1, 1, 1)
    for sweep in (first, second, third):
        for run in sweep["runs"]:
            stored, _ = await stored_and_alone(db, candles, run)
            assert stored["fills"] > 0


def next_candles(count: int) -> list[CandleData]:
    """The ``count`` real candles after the sweeps' range (the file's rows after the fixture's)."""
    with gzip.open(shared_file("binance_BTC_USDT-1m.csv.gz"), "rt", newline="") as source:
        lines = [source.readline() for _ in range(CANDLE_ROWS + 1 + count)][CANDLE_ROWS + 1 :]
    made = []
    for line in lines:
        ts, *values = line.strip().split(",")
        moment = datetime.fromtimestamp(int(ts) / 1000, UTC)
        made.append(CandleData(moment, *map(Decimal, values)))
    return made


async def test_the_markets_new_candles_keep_the_cache_of_a_range_before_them(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stored as they close (the candles endpoint stores what a chart asks for): a sweep over a
    range before them reads no candle again, in the process that has them or in another reading
    their file, and each run still equals itself alone."""
    loads = database_loads(monkeypatch)
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40, 45]}))
    first, second, third = (run["id"] for run in sweep["runs"])
    worker, other = CandleCache(), CandleCache()
    await run_all(settings, worker, [first])
    async with db.session_scope() as session:
        counts = await upsert_candles(session, "binance", "BTC/USDT", "1m", next_candles(60))
    assert counts.inserted == 60

    await run_all(settings, worker, [second])
    await run_all(settings, other, [third])

    assert (worker.loads, other.loads, loads.calls) == (1, 1, 1)
    for run in sweep["runs"]:
        await stored_and_alone(db, candles, run)


def dropped_file(original: Path, target: Path) -> tuple[Path, list[CandleData]]:
    """The candle file with the prices of ``CHANGED_ROWS`` scaled by ``SCALE``, and those
    candles as written."""
    with gzip.open(original, "rt", newline="") as source:
        lines = source.readlines()
    changed = []
    for row in CHANGED_ROWS:
        ts, *prices, volume = lines[row + 1].strip().split(",")
        scaled = [Decimal(price) * SCALE for price in prices]
        open_, high, low, close = scaled
        lines[row + 1] = ",".join([ts, *map(str, scaled), volume]) + "\n"
        moment = datetime.fromtimestamp(int(ts) / 1000, UTC)
        changed.append(CandleData(moment, open_, high, low, close, Decimal(volume)))
    with gzip.open(target, "wt", newline="") as sink:
        sink.writelines(lines)
    return target, changed


async def by_upsert(db: Database, changed: Path, candles: list[CandleData]) -> None:
    async with db.session_scope() as session:  # as a download of the range again does
        counts = await upsert_candles(session, "binance", "BTC/USDT", "1m", candles)
    assert counts.updated == len(CHANGED_ROWS)


async def by_import(db: Database, changed: Path, candles: list[CandleData]) -> None:
    async with db.session_scope() as session:  # a corrected file imported over the old one
        report = await import_candle_file(
            session, changed, exchange="binance", symbol="BTC/USDT", timeframe="1m"
        )
    assert report.updated == len(CHANGED_ROWS)


Write = Callable[[Database, Path, list[CandleData]], Awaitable[None]]


@pytest.mark.parametrize("write", [by_upsert, by_import], ids=["upsert", "import"])
async def test_a_candle_written_in_the_middle_of_the_range_is_never_served_stale(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    write: Write,
) -> None:
    """Within one sweep even (the range's ends unchanged): the next run, in the process that
    cached the candles or in another that finds them in a file, runs on the candles as written."""
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40, 45]}))
    first, in_a_new_process, in_the_same = (run["id"] for run in sweep["runs"])
    worker = CandleCache()
    await run_all(settings, worker, [first])  # cached in the process, and its file written
    changed, written = dropped_file(candles, tmp_path / "dropped.csv.gz")

    await write(db, changed, written)
    await run_all(settings, CandleCache(), [in_a_new_process])
    await run_all(settings, worker, [in_the_same])

    for run in sweep["runs"][1:]:
        row = await row_of(db, run["id"])
        assert row is not None and row.results is not None
        alone = body(type="indicator", config={**RSI, **run["parameters"]})
        on_changed = {**comparable(await direct_results(changed, alone)), "strategy": "rsi"}
        on_original = {**comparable(await direct_results(candles, alone)), "strategy": "rsi"}
        assert on_changed["return_pct"] != on_original["return_pct"]  # it matters to this run
        assert comparable(row.results) == {
            name: value for name, value in on_changed.items() if name in row.results
        }, run["parameters"]


async def test_a_sweep_run_reads_the_version_before_its_candles(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Candles read after their version are at least as new as it says: a write landing between
    the two makes a cache newer than its label, never older."""
    reads: list[str] = []
    range_version, load_arrays = candles_repository.range_version, candles_repository.load_arrays

    async def version(*args: Any, **kwargs: Any) -> candles_repository.RangeVersion:
        reads.append("version")
        return await range_version(*args, **kwargs)

    async def arrays(*args: Any, **kwargs: Any) -> CandleArrays:
        reads.append("candles")
        return await load_arrays(*args, **kwargs)

    monkeypatch.setattr(candles_repository, "range_version", version)
    monkeypatch.setattr(candles_repository, "load_arrays", arrays)
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30]}))

    await run_all(settings, CandleCache(), [sweep["runs"][0]["id"]])

    assert reads == ["version", "candles"]
