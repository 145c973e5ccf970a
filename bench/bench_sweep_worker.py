"""Time a sweep's runs as the workers run them, against the engine time of those runs.

A sweep through the API is: the sweep and its run rows created in one request, its runs sent to
the workers in chunks (``sweep_chunks``: several runs per task message), and each chunk task
claiming its runs, loading the candles (once per worker process, ``candle_cache``), running the
engine and storing each run's figures in batched transactions (a run's full results and report
are made when it is opened). ``--chunk 1`` times one run task per run instead. This script does
all of that on a scratch PostgreSQL database (created and dropped here; the candles are the real
1m file's first ``--days``, and past its 91 days its copies chained as the engine benchmarks'
year), with the tasks executed by ``--workers`` processes pulling chunks of
run ids from one queue, as Celery's prefork pool does, but
without a broker between (Redis and the Celery hop add about a millisecond a task). It prints
the whole sweep's wall time (submission to the last stored result) beside the engine time its
runs report (``run_seconds``, the sum over the runs, divided by the processes), and a profile of
the time one worker spends outside the engine with ``--profile``.

    DATABASE_ADMIN=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/bench_sweep_worker.py [--days 30] [--runs 20] [--workers 2]

The target (issue: the whole sweep within 20 % of the engine time of its runs) is about this
ratio. The machine may be shared: the wall times include waiting for a core.

Three sweeps are timed, each labelled: "cold", the first over these candles (loaded from the
database once per machine), then the same sweep again as a user refining a search runs it (its
candles unchanged since), "warm": once by the same worker processes (as a Celery worker's kept
children: the candles and indicator series in memory), once by new ones (the candles read from
the file the first sweep left in ``var_dir``). ``--cold-only`` times the first alone.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import multiprocessing
import os
import pstats
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from celery import signals
from sqlalchemy import select

from autogrid.backtest import on_demand, sweeps
from autogrid.backtest.candle_cache import CandleCache
from autogrid.backtest.loader import load_candles
from autogrid.backtest.schemas import SweepCreate
from autogrid.backtest.sweep_chunks import chunk_size, chunks
from autogrid.backtest.synthetic_year import chain_copies
from autogrid.backtest.tasks import execute_backtest, execute_chunk_kept, execute_kept
from autogrid.backtest.worker_loop import KeptLoop
from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings, load_settings
from autogrid.core.db import Database
from autogrid.market_data.service import import_candle_file
from autogrid.models import User
from autogrid.models.backtest import Backtest
from autogrid.worker import celery_app  # noqa: F401  # its worker signals' receivers

ROOT = Path(__file__).resolve().parents[1]
ONE_MINUTE = ROOT / ".." / "shared" / "data" / "binance_BTC_USDT-1m.csv.gz"
ADMIN = os.environ.get("DATABASE_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
FIRST_OPEN = 1747699200000  # the file's first candle, 2025-05-20T00:00Z
PHASE_ORDER = (
    "claim (commit)",
    "candles (cached)",
    "engine",
    "results built",
    "report rendered",
    "results stored (commit)",
)


def bench_settings(url: str, var_dir: Path) -> Settings:
    return load_settings(
        environment="development",
        database_url=url,
        jwt_secret="bench-secret-bench-secret-bench-secret-0123456789",
        var_dir=var_dir,
        log_json=False,
    )


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")


def sweep_body(days: int, runs: int, strategy: str) -> dict[str, Any]:
    end = FIRST_OPEN + days * 86_400_000
    iso = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000)) for ms in (FIRST_OPEN, end)]
    base: dict[str, Any] = {
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "start": iso[0],
        "end": iso[1],
        "initial_balance": "10000",
        "fees": {"maker": "0.001", "taker": "0.001"},
        "slippage": "0",
    }
    if strategy == "rsi":
        base |= {"type": "indicator", "config": {"strategy": "rsi", "order_pct": 100}}
        periods = [7, 9, 11, 14, 17, 21, 25, 30, 35, 40][: max(1, runs // 10)]
        belows = list(range(20, 40, 2))[: -(-runs // len(periods))]
        return {"base": base, "vary": {"period": periods, "buy_below": belows}}
    base |= {
        "type": "grid",
        "config": {"lower_price": "95000", "upper_price": "112000", "investment": "5000"},
    }
    return {"base": base, "vary": {"grid_count": list(range(10, 10 + 5 * runs, 5))}}


def candle_file(days: int, var_dir: Path) -> tuple[Path, int]:
    """The first ``days`` of the real 1m file; past its 91 days, the file's copies chained end
    to end as the engine benchmarks' year (``synthetic_year``: every move real, each copy
    rescaled to open at the last one's close), its prices quoted to the market's tick (0.01) as
    an exchange quotes them: a rescaled price's 17 digits are no market's, and the loader reads
    such values through the server's slower cast. Returns the file and its number of candles."""
    part = var_dir / "candles.csv.gz"
    wanted = days * 1440
    with gzip.open(ONE_MINUTE, "rt", newline="") as source:
        lines = [line for line in (source.readline() for _ in range(wanted + 1)) if line]
    if len(lines) - 1 < wanted:
        year = chain_copies(load_candles(ONE_MINUTE), wanted, 60_000)
        columns = (year.ts_ms, year.open, year.high, year.low, year.close, year.volume)
        lines = [lines[0]] + [
            f"{int(ts)},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v!r}\n"
            for ts, o, h, lo, c, v in zip(*(column.tolist() for column in columns), strict=True)
        ]
    with gzip.open(part, "wt", newline="") as target:
        target.writelines(lines)
    return part, len(lines) - 1


async def prepare(url: str, days: int, var_dir: Path) -> int:
    """The candles imported; how many the range holds."""
    database = Database.from_settings(bench_settings(url, var_dir))
    try:
        part, candles = candle_file(days, var_dir)
        async with database.session_scope() as session:
            await import_candle_file(
                session, part, exchange="binance", symbol="BTC/USDT", timeframe="1m"
            )
        return candles
    finally:
        await database.dispose()


async def new_sweep(url: str, days: int, runs: int, strategy: str, var_dir: Path) -> list[str]:
    """A sweep created as the API creates it (a new user each); its run ids."""
    settings = bench_settings(url, var_dir)
    database = Database.from_settings(settings)
    try:
        async with database.session_scope() as session:
            user = User(email=f"bench-{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
            session.add(user)
            await session.flush()
            body = SweepCreate.model_validate(sweep_body(days, runs, strategy))
            _, created = await sweeps.create_sweep(
                session, user, body, conservative_market_rules, settings
            )
            return [str(run.id) for run in created]
    finally:
        await database.dispose()


PHASES: dict[str, list[float]] = {}  # name -> [wall, cpu] summed over this process's runs


def timed_phases(chunked: bool) -> None:
    """Wrap the task path's stages with timers (this process only): where a run's time goes."""
    from autogrid.backtest import repository, run_spec, signal_walk, sweep_chunks
    from autogrid.backtest.candle_cache import CandleCache as Cache

    def wrap(owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)
        total = PHASES.setdefault(label, [0.0, 0.0])

        if asyncio.iscoroutinefunction(inner):

            async def outer(*args: Any, **kwargs: Any) -> Any:
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    return await inner(*args, **kwargs)
                finally:
                    total[0] += time.perf_counter() - wall
                    total[1] += time.process_time() - cpu

        else:

            def outer(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]  # one of two
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    return inner(*args, **kwargs)
                finally:
                    total[0] += time.perf_counter() - wall
                    total[1] += time.process_time() - cpu

        setattr(owner, name, outer)

    wrap(repository, "claim", "claim (commit)")
    wrap(repository, "claim_many", "claim (commit)")
    wrap(Cache, "load", "candles (cached)")
    wrap(signal_walk, "run_fast", "engine")
    wrap(run_spec, "build_result", "results built")
    wrap(run_spec, "render_report", "report rendered")
    if chunked:  # a chunk's figures are stored in batches, each one transaction
        wrap(sweep_chunks, "_flush", "results stored (commit)")
    else:
        wrap(repository, "finish", "results stored (commit)")


def worker(
    url: str,
    var_dir: str,
    sweeps_ids: list[Any],
    ready: list[Any],
    profile: bool,
    per_run_pool: bool,
    report: Any,
    chunked: bool,
) -> None:
    """One worker process: for each sweep in turn (once ``ready``), runs chunks of ids (lists)
    from its shared queue until it is empty: one run task per id if not ``chunked``, else one
    chunk task per list, as Celery would, and reports its stage times. It starts as a prefork
    child does (``worker_process_init``), forked from a process that started as a worker's main
    one does (``worker_init``, in ``main``), and keeps its loop, pool and candles between
    sweeps, as a Celery child does."""
    signals.worker_process_init.send(sender=None)
    settings = bench_settings(url, Path(var_dir))
    timed_phases(chunked)
    cache = CandleCache()
    profiler = cProfile.Profile() if profile else None

    kept = KeptLoop()
    for ids, go in zip(sweeps_ids, ready, strict=True):
        go.wait()
        for sums in PHASES.values():
            sums[:] = [0.0, 0.0]
        started_cpu = time.process_time()
        while True:
            # Blocking, up to the end mark: ``get_nowait`` raises Empty also while the other
            # process holds the queue's read lock, and a worker that took that for the end left
            # the rest of the sweep to the other (the warm sweep in the same processes, whose
            # workers start together, ran almost one at a time).
            item = ids.get()
            if item is None:
                break
            chunk = [uuid.UUID(backtest_id) for backtest_id in item]
            if profiler is not None:
                profiler.enable()
            if chunked:  # as the chunk task does
                execute_chunk_kept(chunk, settings, cache, kept)
            for backtest_id in [] if chunked else chunk:
                if per_run_pool:
                    asyncio.run(execute_backtest(backtest_id, settings, cache))
                else:  # as the run task does
                    execute_kept(backtest_id, settings, cache, kept)
            if profiler is not None:
                profiler.disable()
        # ``perf_counter`` is the machine's monotonic clock: comparable across the processes.
        cpu, ended = time.process_time() - started_cpu, time.perf_counter()
        report.put({"cpu": cpu, "ended": ended, **PHASES})
    kept.drop()
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(35)


async def engine_seconds(url: str, ids: Sequence[str], var_dir: Path) -> tuple[float, int]:
    database = Database.from_settings(bench_settings(url, var_dir))
    try:
        async with database.session_scope() as session:
            rows = (
                await session.scalars(
                    select(Backtest).where(Backtest.id.in_([uuid.UUID(i) for i in ids]))
                )
            ).all()
    finally:
        await database.dispose()
    seconds = [float(row.results["run_seconds"]) for row in rows if row.results is not None]
    return sum(seconds), len(seconds)


async def ranked_and_opened(
    url: str, ids: Sequence[str], var_dir: Path
) -> tuple[float, float, float]:
    """Wall time of reading the finished sweep ranked (as ``GET /backtests/sweeps/{id}``), and
    the wall and CPU time of opening its best run (its full results and report made again)."""
    settings = bench_settings(url, var_dir)
    database = Database.from_settings(settings)
    try:
        async with database.session_scope() as session:
            run = await session.get(Backtest, uuid.UUID(ids[0]))
            assert run is not None and run.sweep_id is not None
            user = await session.get(User, run.user_id)
            assert user is not None
            wall = time.perf_counter()
            ranked = await sweeps.get_sweep(session, user, run.sweep_id)
            ranking = time.perf_counter() - wall
            best = await session.get(Backtest, ranked.runs[0].id)
            assert best is not None and best.results is not None
    finally:
        await database.dispose()
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.to_thread(on_demand.remake, settings, best.params, best.results)
    return ranking, time.perf_counter() - wall, time.process_time() - cpu


class Workers:
    """``--workers`` processes that run ``sweeps`` sweeps in turn, started with the first."""

    def __init__(self, url: str, var_dir: str, args: argparse.Namespace, sweeps: int) -> None:
        context = multiprocessing.get_context("fork")
        self.url, self.var_dir, self.args = url, var_dir, args
        self.queues: list[Any] = [context.Queue() for _ in range(sweeps)]
        self.ready: list[Any] = [context.Event() for _ in range(sweeps)]
        self.reports: Any = context.Queue()
        self.processes: list[Any] = []
        self.processes_wanted = 1 if args.profile else args.workers
        self.done = 0

    def run(self, ids: Sequence[str], size: int) -> tuple[float, list[dict[str, Any]]]:
        """The next sweep's runs: its wall time, from the first claim to the last result
        stored (the processes' start included, for the first), and each process's stage
        times."""
        args, queue = self.args, self.queues[self.done]
        for chunk in chunks([uuid.UUID(i) for i in ids], size):
            queue.put([str(backtest_id) for backtest_id in chunk])
        for _ in range(self.processes_wanted):
            queue.put(None)  # one end mark per process
        wall = time.perf_counter()
        self.ready[self.done].set()
        if not self.processes:
            signals.worker_init.send(sender=None)  # as a worker's main process, before forking
            self.processes = [
                multiprocessing.get_context("fork").Process(
                    target=worker,
                    args=(
                        self.url,
                        self.var_dir,
                        self.queues,
                        self.ready,
                        args.profile,
                        args.per_run_pool,
                        self.reports,
                        size > 1,
                    ),
                )
                for _ in range(self.processes_wanted)
            ]
            for process in self.processes:
                process.start()
        phases = [self.reports.get() for _ in self.processes]  # before join: queues must drain
        for report in phases:
            report["ended"] -= wall  # seconds from the start
        wall = time.perf_counter() - wall
        self.done += 1
        if self.done == len(self.queues):
            for process in self.processes:
                process.join()
        return wall, phases


def print_sweep(
    title: str,
    url: str,
    ids: Sequence[str],
    var_dir: Path,
    wall: float,
    phases: list[dict[str, Any]],
    workers: int,
) -> None:
    engine, done = asyncio.run(engine_seconds(url, ids, var_dir))
    ranking, open_wall, open_cpu = asyncio.run(ranked_and_opened(url, ids, var_dir))
    per_worker = engine / workers
    ended = "  ".join(f"{p['ended']:.2f}" for p in sorted(phases, key=lambda p: p["ended"]))
    print(
        f"  {title}, {done}/{len(ids)} runs done:\n"
        f"    whole sweep (claim to last result stored) {wall:8.2f} s wall\n"
        f"    engine time of its runs                    {engine:8.2f} s "
        f"({per_worker:.2f} s per worker)\n"
        f"    sweep / engine per worker                  {wall / per_worker:8.2f} "
        f"(target <= 1.2)\n"
        f"    worker processes' cpu                      {sum(p['cpu'] for p in phases):8.2f} s\n"
        # A process done well before the other idled at the end (a sweep's last chunks).
        f"    each process done after (s)                {ended}\n"
        f"    reading it ranked (GET of the sweep)       {ranking:8.2f} s wall\n"
        f"    opening its best run (made on demand)      {open_wall:8.2f} s wall "
        f"{open_cpu:.2f} s cpu\n"
        "    stage sums over the runs (wall, cpu):"
    )
    for label in PHASE_ORDER:
        wall_sum = sum(p[label][0] for p in phases)
        cpu_sum = sum(p[label][1] for p in phases)
        print(f"      {label:<26}{wall_sum:8.2f}{cpu_sum:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--strategy", choices=("rsi", "grid"), default="rsi")
    parser.add_argument("--profile", action="store_true", help="profile one worker (alone)")
    parser.add_argument(
        "--per-run-pool", action="store_true", help="each run in a new loop and pool (before)"
    )
    parser.add_argument(
        "--chunk", type=int, help="runs per task message (1: one run task each; default: the API's)"
    )
    parser.add_argument(
        "--cold-only", action="store_true", help="only the first sweep (no repeat sweep)"
    )
    args = parser.parse_args()

    name = f"bench_sweep_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    workers = 1 if args.profile else args.workers
    try:
        migrate(url)
        with tempfile.TemporaryDirectory() as var_dir:
            candles = asyncio.run(prepare(url, args.days, Path(var_dir)))
            print(
                f"{args.strategy} sweeps over {candles:,} 1m candles ({candles / 1440:.0f} days), "
                f"{workers} worker processes:"
            )
            kept = Workers(url, var_dir, args, 1 if args.cold_only else 2)
            plan = [("cold: the first sweep over these candles", kept)]
            if not args.cold_only:
                plan += [
                    (
                        "warm: the same sweep again, in the same worker processes (as a Celery "
                        "worker's children: candles kept in memory)",
                        kept,
                    ),
                    (
                        "warm: the same sweep again, in new worker processes (candles read from "
                        "the file the first left)",
                        Workers(url, var_dir, args, 1),
                    ),
                ]
            for title, workers_of in plan:
                ids = asyncio.run(
                    new_sweep(url, args.days, args.runs, args.strategy, Path(var_dir))
                )
                size = args.chunk or chunk_size(
                    len(ids), candles, Settings.model_fields["backtest_sweep_chunk_runs"].default
                )
                wall, phases = workers_of.run(ids, size)
                print_sweep(
                    f"{title}, {size} runs per task message",
                    url,
                    ids,
                    Path(var_dir),
                    wall,
                    phases,
                    workers,
                )
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
