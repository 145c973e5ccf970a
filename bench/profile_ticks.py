"""Count what one quiet bot tick costs: SQL statements, transactions and Python function calls.

The same setting as bench_ticks.py (paper grid bots, ladders resting, no candle to reveal), on a
smaller fleet: the costs counted are per tick, so the fleet's size matters little. Prints the
statements per tick by their first words and, with --profile, cProfile's top functions.

    .venv/bin/python bench/profile_ticks.py [--bots 100] [--rounds 3] [--profile 25]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_ticks import quiet_bots  # noqa: E402
from tests.infra import migrated_database  # noqa: E402

from autogrid.engine.context import RuntimeContext  # noqa: E402
from autogrid.scheduling.claims import batches, tick_many  # noqa: E402
from autogrid.scheduling.process import new_runtime_loop  # noqa: E402


async def tick_round(ctx: RuntimeContext, ids: list[uuid.UUID], concurrency: int) -> None:
    """Every bot once, in the worker's batches (one task each, one after the other)."""
    for batch in batches(ids):
        await tick_many(ctx, [uuid.UUID(bot_id) for bot_id in batch], concurrency)


def statement_kind(statement: str) -> str:
    words = statement.split()
    head = " ".join(words[:2]) if words else "?"
    for table in ("bots", "orders", "paper_", "strategy_inbox", "kill_switch", "candles"):
        if table in statement:
            return f"{head} .. {table}"
    return head


def start_spy(path: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy sampling this process (native frames too) into ``path``, collapsed stacks."""
    if not path:
        return None
    command = [
        "py-spy",
        "record",
        "--pid",
        str(os.getpid()),
        "--format",
        "raw",
        "--rate",
        "500",
        "-o",
        path,
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # let it attach
    return spy


def stop_spy(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait()


async def run(
    url: str,
    bots: int,
    rounds: int,
    concurrency: int,
    top: int,
    spy_to: str | None,
    settle: float,
) -> None:
    async with quiet_bots(url, bots, concurrency) as (ctx, ids):
        database = ctx.database
        statements: Counter[str] = Counter()

        def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            statements[statement_kind(statement)] += 1

        await tick_round(ctx, ids, concurrency)  # starts them
        # As in bench_ticks.py, whose start alone takes minutes: every bot's replay clock
        # has passed its last matched candle's close by a candle, none stored is revealed.
        await asyncio.sleep(settle)
        await tick_round(ctx, ids, concurrency)  # the first quiet round warms the caches
        event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        plain = time.process_time()
        for _ in range(rounds):
            await tick_round(ctx, ids, concurrency)
        plain = time.process_time() - plain
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
        spy = start_spy(spy_to)
        for _ in range(rounds if spy else 0):
            await tick_round(ctx, ids, concurrency)
        stop_spy(spy)
        profile = cProfile.Profile()
        cpu = time.process_time()
        profile.enable()
        for _ in range(rounds):
            await tick_round(ctx, ids, concurrency)
        profile.disable()
        cpu = time.process_time() - cpu
    ticks = bots * rounds
    stats = pstats.Stats(profile)
    calls = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{ticks} quiet ticks: {sum(statements.values()) / ticks:.2f} SQL statements per tick")
    for kind, n in statements.most_common():
        print(f"  {n / ticks:6.2f}  {kind}")
    print(f"function calls per tick (cProfile): {calls / ticks:.0f}")
    print(f"CPU per tick: {plain / ticks * 1000:.2f} ms (this process, without profiling)")
    print(f"CPU per tick under cProfile: {cpu / ticks * 1000:.2f} ms")
    if top:
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("ncalls").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    parser.add_argument("--spy", help="also sample a round with py-spy into this file")
    parser.add_argument("--settle", type=float, default=65, help="seconds to wait once started")
    args = parser.parse_args()
    # The database made and dropped outside the loop, which is the worker's own kind.
    with (
        migrated_database("autogrid_profile") as url,
        asyncio.Runner(loop_factory=new_runtime_loop) as runner,
    ):
        runner.run(
            run(
                url,
                args.bots,
                args.rounds,
                args.concurrency,
                args.profile,
                args.spy,
                args.settle,
            )
        )


if __name__ == "__main__":
    main()
