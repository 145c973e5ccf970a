"""Backtest jobs: run one backtest, and recover the ones a dead worker or a lost message left.

``run_backtest(backtest_id)`` is safe to deliver any number of times, even in parallel: it first
claims the row with ``UPDATE ... SET status = 'running' WHERE status = 'queued'`` and commits, so
only one delivery ever runs it; any other finds the row running or finished (or deleted) and
does nothing. Progress is committed at each stage, the engine itself running uninterrupted:

    claimed 0.0 -> candles loaded 0.3 -> engine done 0.7 -> results and report built 0.9 -> 1.0

A run of a sweep goes from 0.0 to 1.0 without the steps between: its sweep shows the progress
that matters (runs done of the total, the best so far), and three more commits per run would
cost a sweep of short runs a good part of its time.

Expected failures (no candles in the range, the time limit) end as ``failed`` with a message for
the user; anything else too, with a generic message, and is logged with its traceback.

A worker that dies mid-run (OOM, kill -9) leaves the row ``running``: Redis redelivers the
message, which then does nothing (claimed). ``recover_backtests`` (beat, every 5 minutes) marks
rows running for longer than ``STALE_AFTER_SECONDS`` as failed rather than requeueing them: a
backtest that killed its worker would kill the next one too, and the user can resubmit it. The
threshold is above the task's hard time limit, so a row still running then has no live task
(the prefork pool enforces the limit; under the solo pool a late finisher's result is dropped,
since only a running row can be finished). It also re-sends the message of backtests queued and
untouched for ``RESEND_QUEUED_AFTER_SECONDS`` (the send after commit is at most once); a
duplicate message is harmless, the claim makes it a no-op.

A task that cannot reach the database (a restart, a failover: ``UNREACHABLE``) is retried after at
most a second, then at most twice as long each time (``RETRIES`` times), rather than acknowledged
as failed: its runs, still queued, would otherwise wait for the recovery's resend, a quarter of an
hour, with nothing to tell their owner why. A retry is a delivery like any other: runs already
claimed are not run again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from celery import current_app, group
from celery.exceptions import SoftTimeLimitExceeded
from fastapi import BackgroundTasks, Request
from sqlalchemy.exc import InterfaceError, OperationalError

from autogrid.backtest import repository, sweep_chunks
from autogrid.backtest.candle_cache import WORKER_CANDLES, CandleCache
from autogrid.backtest.run_spec import RunSpec, full_results
from autogrid.backtest.worker_loop import WORKER_LOOP, KeptLoop
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.market_data.coverage import describe_missing_range
from autogrid.models.backtest import BacktestStatus
from autogrid.observability.metrics import BACKTESTS
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.worker.base import run_async, task, task_settings

logger = logging.getLogger(__name__)

RUN_TASK = "autogrid.backtest.tasks.run_backtest"
RUN_CHUNK_TASK = "autogrid.backtest.tasks.run_backtest_chunk"
TIME_LIMIT_SECONDS = 900
SOFT_TIME_LIMIT_SECONDS = 840
STALE_AFTER_SECONDS = TIME_LIMIT_SECONDS + 300
RESEND_QUEUED_AFTER_SECONDS = 900
RESEND_BATCH = 1000
PROGRESS_LOADED, PROGRESS_SIMULATED, PROGRESS_BUILT = 0.3, 0.7, 0.9
# The database out of reach: connection refused or reset (OSError, as asyncpg raises them on
# connecting), a connection lost mid-statement (SQLAlchemy's wrappers).
UNREACHABLE = (OSError, OperationalError, InterfaceError)
RETRIES = 6  # after 1, 2, 4, 8, 16 and 32 s at most (jittered): about a minute in all
RETRY_OPTIONS: dict[str, Any] = {
    "autoretry_for": UNREACHABLE,
    "max_retries": RETRIES,
    "retry_backoff": 1,
    "retry_jitter": True,
}


class Outcome(StrEnum):
    SKIPPED = "skipped"  # another delivery claimed it, or it was deleted
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DROPPED = "dropped"  # ran, but the row was failed as stale or deleted meanwhile


class BacktestFailed(Exception):
    """An expected failure; the message is shown to the user."""


# --- running one --------------------------------------------------------------------------


@task(time_limit=TIME_LIMIT_SECONDS, soft_time_limit=SOFT_TIME_LIMIT_SECONDS, **RETRY_OPTIONS)
def run_backtest(backtest_id: str) -> str:
    """Run a queued backtest; a second delivery, in parallel or later, does nothing."""
    return execute_kept(uuid.UUID(backtest_id), task_settings()).value


def execute_kept(
    backtest_id: uuid.UUID,
    settings: Settings,
    cache: CandleCache = WORKER_CANDLES,
    kept: KeptLoop = WORKER_LOOP,
) -> Outcome:
    """What the task runs: the backtest in the process's kept loop and pool (``worker_loop``),
    so a sweep's short runs do not connect to the database each. Not from a running loop."""

    async def work(database: Database) -> Outcome:
        return await _execute(database, backtest_id, cache, sweep_candles_dir(settings))

    return kept.run(settings, work)


@task(time_limit=TIME_LIMIT_SECONDS, soft_time_limit=SOFT_TIME_LIMIT_SECONDS, **RETRY_OPTIONS)
def run_backtest_chunk(backtest_ids: list[str]) -> dict[str, int]:
    """Run a chunk of a sweep's queued runs (``sweep_chunks``); redelivery does nothing twice."""
    ids = [uuid.UUID(backtest_id) for backtest_id in backtest_ids]
    return asdict(execute_chunk_kept(ids, task_settings()))


def execute_chunk_kept(
    backtest_ids: Sequence[uuid.UUID],
    settings: Settings,
    cache: CandleCache = WORKER_CANDLES,
    kept: KeptLoop = WORKER_LOOP,
) -> sweep_chunks.ChunkOutcome:
    """What the chunk task runs, in the process's kept loop and pool (as ``execute_kept``)."""

    async def work(database: Database) -> sweep_chunks.ChunkOutcome:
        return await sweep_chunks.execute_chunk(
            database, backtest_ids, cache, SOFT_TIME_LIMIT_SECONDS, sweep_candles_dir(settings)
        )

    return kept.run(settings, work)


async def execute_backtest(
    backtest_id: uuid.UUID, settings: Settings, cache: CandleCache = WORKER_CANDLES
) -> Outcome:
    """``cache``: the worker's candles of recent sweeps (a sweep's runs load them once). A pool
    for this run only (disposed after): the worker's task keeps one instead (``run_backtest``)."""
    database = Database.from_settings(settings)
    try:
        return await _execute(database, backtest_id, cache, sweep_candles_dir(settings))
    finally:
        await database.dispose()


def sweep_candles_dir(settings: Settings) -> Path:
    """Where the machine's worker processes share a sweep's candles (``candle_files``)."""
    return settings.var_dir / "sweep-candles"


async def _execute(
    database: Database, backtest_id: uuid.UUID, cache: CandleCache, shared_dir: Path | None = None
) -> Outcome:
    async with database.session_scope() as session:
        claimed = await repository.claim(session, backtest_id)
    if claimed is None:
        logger.info(
            "backtest %s is not queued (claimed, finished or deleted): skipped", backtest_id
        )
        return Outcome.SKIPPED
    BACKTESTS.labels(BacktestStatus.RUNNING).inc()
    try:
        spec = RunSpec.of(claimed.params)
        results, report = await _run(
            database, backtest_id, spec, claimed.sweep_id, cache, shared_dir
        )
    except BacktestFailed as error:
        return await _fail(database, backtest_id, str(error))
    except StrategyConfigError as error:  # validated at submission; the rules changed since
        return await _fail(database, backtest_id, f"the config is no longer valid: {error}")
    except SoftTimeLimitExceeded:
        message = f"the backtest took longer than {SOFT_TIME_LIMIT_SECONDS} s: shorten the range"
        return await _fail(database, backtest_id, message)
    except Exception:
        logger.exception("backtest %s failed", backtest_id)
        return await _fail(database, backtest_id, "the backtest failed on an internal error")
    async with database.session_scope() as session:
        stored = await repository.finish(session, backtest_id, results, report)
    if not stored:
        logger.warning("backtest %s finished but is no longer running: result dropped", backtest_id)
        return Outcome.DROPPED
    BACKTESTS.labels(BacktestStatus.SUCCEEDED).inc()
    logger.info("backtest %s succeeded", backtest_id)
    return Outcome.SUCCEEDED


async def _run(
    database: Database,
    backtest_id: uuid.UUID,
    spec: RunSpec,
    sweep_id: uuid.UUID | None,
    cache: CandleCache,
    shared_dir: Path | None,
) -> tuple[dict[str, Any], str | None]:
    async with database.session_scope() as session:
        loaded = await cache.load(
            session,
            sweep_id,
            spec.exchange,
            spec.symbol,
            spec.timeframe,
            spec.start,
            spec.end,
            shared_dir=shared_dir,
        )
        prices = loaded.candles
        if len(prices) < 2:
            found = "no candles" if len(prices) == 0 else "only one candle"
            raise BacktestFailed(
                await describe_missing_range(
                    session, spec.exchange, spec.symbol, spec.timeframe, spec.start, spec.end, found
                )
            )
    await _progress(database, backtest_id, PROGRESS_LOADED, sweep_id)
    started = time.perf_counter()
    run = spec.run(prices, loaded.shared)
    seconds = time.perf_counter() - started
    await _progress(database, backtest_id, PROGRESS_SIMULATED, sweep_id)
    # A sweep's run stores its figures; the rest is made if someone opens it (run_spec).
    built = (
        full_results(spec, spec.result(run, prices, seconds), run)
        if sweep_id is None
        else (spec.figures(run, prices, seconds), None)
    )
    await _progress(database, backtest_id, PROGRESS_BUILT, sweep_id)
    return built


async def _progress(
    database: Database, backtest_id: uuid.UUID, progress: float, sweep_id: uuid.UUID | None
) -> None:
    if sweep_id is not None:
        return  # see the module's docstring
    async with database.session_scope() as session:
        await repository.set_progress(session, backtest_id, progress)


async def _fail(database: Database, backtest_id: uuid.UUID, message: str) -> Outcome:
    async with database.session_scope() as session:
        failed = await repository.fail(session, backtest_id, message)
    if not failed:
        return Outcome.DROPPED
    BACKTESTS.labels(BacktestStatus.FAILED).inc()
    logger.info("backtest %s failed: %s", backtest_id, message)
    return Outcome.FAILED


# --- recovery (beat) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recovery:
    failed: int
    resent: int


@task()
def recover_backtests() -> dict[str, int]:
    """Fail backtests a dead worker left running; re-send those whose message may be lost."""
    queue = CeleryBacktestQueue(current_app._get_current_object())
    outcome = run_async(recover(task_settings(), queue))
    return {"failed": outcome.failed, "resent": outcome.resent}


async def recover(
    settings: Settings, queue: BacktestQueue, now: datetime | None = None
) -> Recovery:
    """Idempotent: a second pass (two beats, a retry) finds nothing more to do."""
    now = now or utcnow()
    error = (
        f"the worker running this backtest stopped (still running after "
        f"{STALE_AFTER_SECONDS} s): submit it again"
    )
    database = Database.from_settings(settings, pooled=False)
    try:
        async with database.session_scope() as session:
            failed = await repository.fail_stale(
                session, now - timedelta(seconds=STALE_AFTER_SECONDS), error
            )
        async with database.session_scope() as session:
            waiting = await repository.touch_waiting(
                session, now - timedelta(seconds=RESEND_QUEUED_AFTER_SECONDS), limit=RESEND_BATCH
            )
    finally:
        await database.dispose()
    if failed:
        BACKTESTS.labels(BacktestStatus.FAILED).inc(failed)
        logger.warning("failed %d backtests left running by a stopped worker", failed)
    if waiting:
        # After the commit above: the claim makes a duplicate harmless.
        await asyncio.to_thread(queue.send, waiting)
        logger.warning(
            "re-sent %d backtests queued for over %d s", len(waiting), RESEND_QUEUED_AFTER_SECONDS
        )
    return Recovery(failed, len(waiting))


# --- sending (the API, after its commit) --------------------------------------------------


class BacktestQueue(Protocol):
    def send(self, backtest_ids: Sequence[uuid.UUID], chunk_runs: int = 1) -> None:
        """Send run tasks for the backtests, ``chunk_runs`` runs per message (a sweep's, see
        ``sweep_chunks``); blocking I/O: call it off the event loop."""
        ...


class CeleryBacktestQueue:
    def __init__(self, app: Any) -> None:
        self.app = app

    def send(self, backtest_ids: Sequence[uuid.UUID], chunk_runs: int = 1) -> None:
        if chunk_runs > 1:
            signatures = [
                self.app.signature(RUN_CHUNK_TASK, args=([str(i) for i in chunk],))
                for chunk in sweep_chunks.chunks(backtest_ids, chunk_runs)
            ]
        else:
            signatures = [self.app.signature(RUN_TASK, args=(str(i),)) for i in backtest_ids]
        if len(signatures) == 1:
            signatures[0].apply_async()
        elif signatures:
            # A sweep fans out over every worker: its messages sent together.
            group(signatures, app=self.app).apply_async()


def backtest_queue(request: Request) -> BacktestQueue:
    """``app.state.backtest_queue`` if set (tests, or the lifespan), else one Celery app built
    from the settings and kept for the app's life."""
    from autogrid.worker.celery_app import create_celery

    state = request.app.state
    queue: BacktestQueue | None = getattr(state, "backtest_queue", None)
    if queue is None:
        queue = CeleryBacktestQueue(create_celery(state.settings))
        state.backtest_queue = queue
    return queue


async def _send(queue: BacktestQueue, backtest_ids: list[uuid.UUID], chunk_runs: int) -> None:
    try:
        await asyncio.to_thread(queue.send, backtest_ids, chunk_runs)
    except Exception:
        # The rows are committed and stay queued: recover_backtests re-sends them.
        logger.exception("run tasks for %d backtests were not sent", len(backtest_ids))


@dataclass(slots=True)
class QueueAfterCommit:
    """Sends run tasks once the request's transaction committed (a FastAPI background task
    runs after the response, and ``SessionDep`` commits before it)."""

    background: BackgroundTasks
    queue: BacktestQueue

    def send(self, backtest_ids: Sequence[uuid.UUID], chunk_runs: int = 1) -> None:
        self.background.add_task(_send, self.queue, list(backtest_ids), chunk_runs)
