"""A sweep's runs in chunks (several runs per task message) storing only their figures, and a
run's full results and report made when it is opened: equal to the same backtest run alone,
kept after the first open, refused when the candles changed, and only ever the owner's."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event

from autogrid.backtest import sweep_chunks
from autogrid.backtest.candle_cache import CandleCache
from autogrid.backtest.run_spec import is_summary
from autogrid.backtest.sweep_chunks import ChunkOutcome, chunk_size, execute_chunk
from autogrid.backtest.tasks import Outcome, execute_backtest
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models.candle import Candle
from tests.backtest.api.conftest import (
    BACKTESTS,
    SWEEPS,
    RecordingQueue,
    body,
    row_of,
    set_row,
    submit,
)
from tests.helpers import ApiUser, assert_error_shape

RSI = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 100}
VARY = {"period": [7, 14], "buy_below": [30, 45]}
SOFT_LIMIT = 840


def rsi_sweep(vary: dict[str, list[Any]]) -> dict[str, Any]:
    return {"base": body(type="indicator", config=RSI), "vary": vary}


async def create_sweep(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    response = await client.post(SWEEPS, json=rsi_sweep(VARY), headers=user.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def ids_of(sweep: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(run["id"]) for run in sweep["runs"]]


async def run_chunk(settings: Settings, ids: Sequence[uuid.UUID]) -> ChunkOutcome:
    """One delivery of a chunk, as a worker process runs it (its own pool and candle cache)."""
    database = Database.from_settings(settings)
    try:
        return await execute_chunk(database, ids, CandleCache(), SOFT_LIMIT)
    finally:
        await database.dispose()


def without_engine_time(text: str) -> str:
    """A report without its engine time row (two runs of the same backtest differ only there)."""
    cleaned, found = re.subn(r'Engine time</td><td class="v">[^<]*', "Engine time", text)
    assert found == 1
    return cleaned


async def test_an_opened_sweep_run_is_byte_for_byte_the_same_backtest_run_alone(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    sweep = await create_sweep(client, user)
    assert await run_chunk(settings, ids_of(sweep)) == ChunkOutcome(succeeded=4)

    trading = 0
    for run in sweep["runs"]:
        row = await row_of(db, run["id"])
        assert row is not None and row.results is not None and is_summary(row.results)
        alone = await submit(
            client, user, body(type="indicator", config={**RSI, **run["parameters"]})
        )
        assert await execute_backtest(uuid.UUID(alone["id"]), settings) is Outcome.SUCCEEDED
        stored = await row_of(db, alone["id"])
        assert stored is not None and stored.results is not None
        # The figures the sweep ranked by are those of the run alone.
        assert {**row.results, "run_seconds": None} == {
            name: stored.results[name] if name != "run_seconds" else None for name in row.results
        }

        opened = (await client.get(f"{BACKTESTS}/{run['id']}", headers=user.headers)).json()

        # Its engine time is the sweep's run's; everything else byte for byte the run alone's.
        assert opened["results"]["run_seconds"] == row.results["run_seconds"]
        same_time = {**stored.results, "run_seconds": row.results["run_seconds"]}
        assert opened["results"] == same_time
        kept = await row_of(db, run["id"])  # as stored: the same JSON text
        assert kept is not None and json.dumps(kept.results) == json.dumps(same_time)
        page = await client.get(f"{BACKTESTS}/{run['id']}/report", headers=user.headers)
        assert page.status_code == 200
        alone_page = await client.get(f"{BACKTESTS}/{alone['id']}/report", headers=user.headers)
        assert without_engine_time(page.text) == without_engine_time(alone_page.text)
        assert "Engine time" in page.text
        trading += len(opened["results"]["closed_trades"]) > 0
    assert trading >= 3  # the comparison is about trades, not empty runs


async def test_an_opened_run_is_kept_and_one_whose_candles_changed_is_409(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    sweep = await create_sweep(client, user)
    await run_chunk(settings, ids_of(sweep))
    opened_id, unopened_id = sweep["runs"][0]["id"], sweep["runs"][1]["id"]
    first = (await client.get(f"{BACKTESTS}/{opened_id}", headers=user.headers)).json()
    row = await row_of(db, opened_id)
    assert row is not None and row.results == first["results"]  # kept on the row

    # Candles changed: no run could be made again from them, so reading the kept one shows it
    # was not made again.
    async with db.session_scope() as session:
        await session.execute(delete(Candle).where(Candle.exchange == "binance"))

    again = await client.get(f"{BACKTESTS}/{opened_id}", headers=user.headers)
    assert again.status_code == 200 and again.json()["results"] == first["results"]
    report = await client.get(f"{BACKTESTS}/{opened_id}/report", headers=user.headers)
    assert report.status_code == 200 and "<svg" in report.text
    for path in (f"{BACKTESTS}/{unopened_id}", f"{BACKTESTS}/{unopened_id}/report"):
        refused = await client.get(path, headers=user.headers)
        assert_error_shape(refused, 409, "backtest_candles_changed")
    row = await row_of(db, unopened_id)
    assert row is not None and row.results is not None and is_summary(row.results)


async def test_another_users_sweep_run_is_404_and_never_made(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    sweep = await create_sweep(client, user)
    await run_chunk(settings, ids_of(sweep))
    run_id = sweep["runs"][0]["id"]

    for path in (f"{BACKTESTS}/{run_id}", f"{BACKTESTS}/{run_id}/report"):
        assert_error_shape(await client.get(path, headers=other_user.headers), 404, "not_found")

    row = await row_of(db, run_id)
    assert row is not None and row.results is not None and is_summary(row.results)
    mine = await client.get(f"{BACKTESTS}/{run_id}", headers=user.headers)
    assert mine.status_code == 200 and "closed_trades" in mine.json()["results"]


async def test_a_chunk_delivered_again_or_in_parallel_stores_each_run_once(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    sweep = await create_sweep(client, user)
    ids = ids_of(sweep)
    # A worker died mid-chunk: the run it had in flight is left running, one was stored.
    await set_row(db, ids[0], status="running")
    await set_row(db, ids[1], status="succeeded", results={"return_pct": 9.0})

    redelivered = await run_chunk(settings, ids)

    assert redelivered == ChunkOutcome(succeeded=2, skipped=2)
    kept = await row_of(db, ids[1])
    assert kept is not None and kept.results == {"return_pct": 9.0}  # not stored twice
    left = await row_of(db, ids[0])
    assert left is not None and left.status == "running"  # recovery fails it, as a single run

    # Two deliveries of a fresh chunk at once: each run is run and stored by one of them.
    fresh = ids_of(await create_sweep(client, user))
    outcomes = await asyncio.gather(
        *(asyncio.to_thread(asyncio.run, run_chunk(settings, fresh)) for _ in range(2))
    )
    assert sum(o.succeeded for o in outcomes) == 4 and sum(o.skipped for o in outcomes) == 4
    assert all(o.failed == o.dropped == 0 for o in outcomes)
    for run_id in fresh:
        row = await row_of(db, run_id)
        assert row is not None and row.status == "succeeded"
    assert await run_chunk(settings, fresh) == ChunkOutcome(skipped=4)


async def test_a_chunked_sweep_shows_its_progress_while_the_chunk_runs(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sweep = await create_sweep(client, user)
    assert queue.chunk_runs == [1]  # four runs: one per message (chunk_size)
    seen: list[dict[str, Any]] = []
    flush = sweep_chunks._flush

    async def flush_and_look(*args: Any) -> Any:
        fresh = await flush(*args)
        seen.append((await client.get(f"{SWEEPS}/{sweep['id']}", headers=user.headers)).json())
        return fresh

    monkeypatch.setattr(sweep_chunks, "FLUSH_SECONDS", 0.0)  # a batch per run
    monkeypatch.setattr(sweep_chunks, "_flush", flush_and_look)

    await run_chunk(settings, ids_of(sweep))

    assert [view["runs_done"] for view in seen[:4]] == [1, 2, 3, 4]
    assert [view["status"] for view in seen[:4]] == ["running"] * 3 + ["finished"]
    assert all(view["best_so_far"] is not None for view in seen)
    values = [view["best_so_far"]["value"] for view in seen[:4]]
    assert values == sorted(values)  # the best so far only improves (return_pct, desc)


def test_chunk_size_spreads_a_sweep_and_bounds_a_chunks_work() -> None:
    month, year = 30 * 1440, 365 * 1440
    assert chunk_size(100, month, 20) == 13  # at least eight chunks
    assert chunk_size(1000, month, 20) == 20  # the setting caps it
    assert chunk_size(100, year, 20) == 5  # about 2.6 million candles walked a chunk
    assert chunk_size(4, month, 20) == chunk_size(100, 5_000_000, 20) == 1
    assert sweep_chunks.chunks([uuid.UUID(int=i) for i in range(5)], 2) == [
        [uuid.UUID(int=0), uuid.UUID(int=1)],
        [uuid.UUID(int=2), uuid.UUID(int=3)],
        [uuid.UUID(int=4)],
    ]


async def test_a_chunk_on_a_worker_with_the_candles_talks_to_the_database_three_times(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    """The claim, the candles' check and the stored batch: one statement each, each committed
    as it runs (a transaction cost a BEGIN and a COMMIT round trip more)."""
    ids = ids_of(await create_sweep(client, user))
    database = Database.from_settings(settings)
    cache = CandleCache()
    talks: list[str] = []

    def statement(*args: Any) -> None:
        talks.append(args[2].split()[0])

    try:
        await execute_chunk(database, ids[:2], cache, SOFT_LIMIT)
        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", lambda _connection: talks.append("COMMIT"))
        outcome = await execute_chunk(database, ids[2:], cache, SOFT_LIMIT)
    finally:
        await database.dispose()

    assert outcome == ChunkOutcome(succeeded=2)
    assert cache.loads == 1
    assert talks == ["UPDATE", "SELECT", "UPDATE"]
    for run_id in ids[2:]:
        row = await row_of(db, run_id)
        assert row is not None and row.status == "succeeded" and row.results is not None
