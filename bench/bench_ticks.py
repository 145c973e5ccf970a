"""Time bot ticks on one process: many paper grid bots, their ladders resting, nothing filling.

Each bot replays real BTC/USDT candles from the end of the stored ones, so its ticks find no new
candle and change no order: the cost measured is the runtime's own (lease, books in sync with
the paper exchange, the decision skipped, lease released), all against a fresh PostgreSQL
database on the test server (AUTOGRID_TEST_PG_ADMIN). Ticks run as the worker runs them: batches
of ``TICK_BATCH`` bots (one task each, one after the other), each ticked concurrently on one
event loop (``scheduling.tick_many``). A tick's latency is its own (step and release); the
batch's taking of the leases, shared by its bots, is added to each of them.

Prints figures only:  .venv/bin/python bench/bench_ticks.py [--bots 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.exchanges.paper.helpers import real_candles, store_candles  # noqa: E402
from tests.infra import migrated_database  # noqa: E402

from autogrid.core.config import load_settings  # noqa: E402
from autogrid.core.db import Database  # noqa: E402
from autogrid.engine.context import RuntimeContext, runtime_database  # noqa: E402
from autogrid.exchanges.pool import ConnectorPool  # noqa: E402
from autogrid.models import Bot, User  # noqa: E402
from autogrid.scheduling import claims as scheduling  # noqa: E402
from autogrid.scheduling import ticking  # noqa: E402
from autogrid.scheduling.claims import batches, tick_many  # noqa: E402
from autogrid.scheduling.lease import Lease  # noqa: E402
from autogrid.scheduling.process import new_runtime_loop  # noqa: E402

TARGET_TICKS_PER_SECOND = 1000
TARGET_P99_MS = 25
CANDLES = 120


def no_network(*_: Any) -> Any:
    raise RuntimeError("the benchmark trades on paper only")


async def create_bots(
    database: Database, count: int, start: str, price: Decimal
) -> list[uuid.UUID]:
    user_id = uuid.uuid4()
    grid = {
        "lower_price": str((price * Decimal("0.97")).quantize(Decimal(1))),
        "upper_price": str((price * Decimal("1.03")).quantize(Decimal(1))),
        "grid_count": 10,
        "spacing": "arithmetic",
        "investment": "5000",
        "direction": "long",
    }
    paper = {
        "price_source": "replay",
        "timeframe": "1m",
        "start": start,
        "speed": 1,
        "balances": {"USDT": "10000"},
    }
    ids = [uuid.uuid4() for _ in range(count)]
    async with database.session_scope() as session:
        email = f"bench-{user_id.hex[:8]}@example.com"
        session.add(User(id=user_id, email=email, password_hash="x"))
        await session.flush()
        for bot_id in ids:
            session.add(
                Bot(
                    id=bot_id,
                    user_id=user_id,
                    name="bench grid",
                    type="grid",
                    exchange="binance",
                    symbol="BTC/USDT",
                    mode="paper",
                    paper=paper,
                    config={"strategy": grid, "breaker": {}},
                    status="starting",
                    state={},
                    investment=Decimal(5000),
                    tick_interval_seconds=1,
                    version=1,
                )
            )
    return ids


async def timed_ticks(ctx: RuntimeContext, ids: list[uuid.UUID], concurrency: int) -> list[float]:
    latencies: list[float] = []
    real_tick, real_take = ticking.tick_bot, Lease.take_many
    taking = 0.0  # the current batch's time to take its leases

    async def take(context: RuntimeContext, bot_ids: Any) -> Any:
        nonlocal taking
        started = time.perf_counter()
        try:
            return await real_take(context, bot_ids)
        finally:
            taking = time.perf_counter() - started

    async def measured(
        ctx: RuntimeContext, bot_id: uuid.UUID, lease: Lease | None = None
    ) -> ticking.TickResult:
        started = time.perf_counter()
        try:
            return await real_tick(ctx, bot_id, lease)
        finally:
            latencies.append(time.perf_counter() - started + taking)

    scheduling.tick_bot = measured  # type: ignore[attr-defined]
    Lease.take_many = take  # type: ignore[method-assign,assignment]
    try:
        for batch in batches(ids):
            await tick_many(ctx, [uuid.UUID(bot_id) for bot_id in batch], concurrency)
    finally:
        scheduling.tick_bot = real_tick  # type: ignore[attr-defined]
        Lease.take_many = real_take  # type: ignore[method-assign]
    return latencies


@asynccontextmanager
async def quiet_bots(
    url: str, bots: int, concurrency: int
) -> AsyncIterator[tuple[RuntimeContext, list[uuid.UUID]]]:
    """A runtime context and ``bots`` paper grid bots (created, not started) replaying the
    stored candles from their end; the context is closed on the way out."""
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            environment="development",
            database_url=url,
            var_dir=Path(tmp),
            database_pool_size=concurrency,
        )
        database = runtime_database(settings)
        candles = real_candles(CANDLES)
        # And one a day later: a replay that has played every stored candle stops itself, so
        # these have more to play, though none is revealed while the bench runs.
        later = replace(candles[-1], ts=candles[-1].ts + timedelta(days=1))
        await store_candles(database, [*candles, later])
        start = (candles[-1].ts + timedelta(minutes=1)).isoformat()
        ids = await create_bots(database, bots, start, candles[-1].close)
        ctx = RuntimeContext(settings, database, ConnectorPool(no_network))
        try:
            yield ctx, ids
        finally:
            await ctx.close()


async def run(url: str, bots: int, rounds: int, concurrency: int) -> None:
    async with quiet_bots(url, bots, concurrency) as (ctx, ids):
        began = time.perf_counter()
        for batch in batches(ids):  # starts them: accounts, ladders
            await tick_many(ctx, [uuid.UUID(bot_id) for bot_id in batch], concurrency)
        started_in = time.perf_counter() - began
        print(f"{bots} paper grid bots started (ladders of 5 buys) in {started_in:.1f}s")
        latencies: list[float] = []
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(rounds):
            latencies += await timed_ticks(ctx, ids, concurrency)
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu
    rate = len(latencies) / elapsed
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    p50 = statistics.median(ordered) * 1000
    print(
        f"quiet ticks: {len(latencies)} in {elapsed:.2f}s = {rate:.0f} ticks/s on one process "
        f"(target >= {TARGET_TICKS_PER_SECOND}/s), concurrency {concurrency}"
    )
    print(
        f"tick latency with {bots} running bots: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(target p99 < {TARGET_P99_MS} ms)"
    )
    per_tick = cpu / len(latencies)
    print(
        f"CPU per tick in this process: {per_tick * 1000:.2f} ms, i.e. {1 / per_tick:.0f} ticks/s "
        "for a core of its own (PostgreSQL shares this machine's cores; load matters)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    # The database made and dropped outside the loop, which is the worker's own kind.
    with (
        migrated_database("autogrid_bench") as url,
        asyncio.Runner(loop_factory=new_runtime_loop) as runner,
    ):
        runner.run(run(url, args.bots, args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
