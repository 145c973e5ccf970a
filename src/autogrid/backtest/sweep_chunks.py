"""A sweep's runs in chunks: several runs per task message, claimed and stored together.

A sweep of short runs (an RSI over a month walks in a few milliseconds) spent more on each run's
own claim, candle check and transactions than on the run. A chunk's runs are claimed in one
statement, their candles checked once per range right after (the worker's cached candles are
then used without another query), and their figures stored in one statement per batch, each
statement committed as it runs (``Database.statement_scope``: no BEGIN and COMMIT round trips):
a batch is flushed once ``FLUSH_SECONDS`` passed since the last, so the sweep's progress (runs
done, best so far) still moves while a chunk of long runs works.

Redelivery is safe as for one run: only queued runs are claimed, and only running runs are
finished or failed (``repository``). A chunk delivered again after its worker died finds its runs
running (the batch in flight) or finished, and does nothing with them; ``recover_backtests``
fails the ones left running, as it does a single run's. A chunk delivered twice in parallel runs
each of its runs once, in whichever delivery claimed it.

``chunk_size``: runs per message, small enough that a sweep spreads over the workers and its
progress moves (at least ``MIN_CHUNKS`` chunks), that a chunk of long runs stays well within the
task's time limit (``CHUNK_CANDLES`` candles walked per chunk), and at most the setting.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest import repository
from autogrid.backtest.candle_cache import CandleCache, Loaded, RangeVersion
from autogrid.backtest.run_spec import RunSpec
from autogrid.core.db import Database
from autogrid.market_data import repository as candles_repository
from autogrid.market_data.coverage import describe_missing_range
from autogrid.models.backtest import BacktestStatus
from autogrid.observability.metrics import BACKTESTS
from autogrid.trading.strategies.base import StrategyConfigError

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
MIN_CHUNKS = 8
CHUNK_CANDLES = 3_000_000  # about ten runs over a year of 1m candles


def chunk_size(runs: int, candles_per_run: int, max_runs: int) -> int:
    """Runs per message for a sweep of ``runs`` runs of ``candles_per_run`` candles each."""
    by_spread = math.ceil(runs / MIN_CHUNKS)
    by_work = CHUNK_CANDLES // max(1, candles_per_run)
    return max(1, min(max_runs, by_spread, by_work))


def chunks(ids: Sequence[uuid.UUID], size: int) -> list[list[uuid.UUID]]:
    return [list(ids[at : at + size]) for at in range(0, len(ids), max(1, size))]


@dataclass(slots=True)
class ChunkOutcome:
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0  # not queued when claimed: another delivery's, finished, or deleted
    dropped: int = 0  # ran, but the row was failed as stale or deleted meanwhile


@dataclass(slots=True)
class _Pending:
    """Runs done and not stored yet: (id, results) and (id, error message)."""

    results: list[tuple[uuid.UUID, dict[str, Any]]] = field(default_factory=list)
    errors: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)


RangeOf = tuple[str, str, str, datetime, datetime]


async def execute_chunk(
    database: Database,
    backtest_ids: Sequence[uuid.UUID],
    cache: CandleCache,
    soft_limit: int,
    shared_dir: Path | None = None,
) -> ChunkOutcome:
    """Claim the chunk's queued runs, run each, store them in batches (see the module).
    ``shared_dir``: where the machine's worker processes share a sweep's candles."""
    async with database.statement_scope() as session:  # the claim commits as it runs
        claimed = await repository.claim_many(session, backtest_ids)
        versions = await _range_versions(session, claimed.values())
    outcome = ChunkOutcome(skipped=len(backtest_ids) - len(claimed))
    if not claimed:
        return outcome
    BACKTESTS.labels(BacktestStatus.RUNNING).inc(len(claimed))
    loads: dict[RangeOf, Loaded | str] = {}
    pending = _Pending()
    order = [backtest_id for backtest_id in backtest_ids if backtest_id in claimed]
    for at, backtest_id in enumerate(order):
        job = claimed[backtest_id]
        try:
            spec = RunSpec.of(job.params)
            loaded = await _candles(
                database, cache, loads, versions, spec, job.sweep_id, shared_dir
            )
            pending.results.append((backtest_id, _figures(spec, loaded)))
        except SoftTimeLimitExceeded:
            message = f"the backtest took longer than {soft_limit} s: shorten the range"
            pending.errors += [(left, message) for left in order[at:]]
            break
        except _RunFailed as error:
            pending.errors.append((backtest_id, str(error)))
        except StrategyConfigError as error:  # validated at submission; the rules changed since
            pending.errors.append((backtest_id, f"the config is no longer valid: {error}"))
        except Exception:
            logger.exception("backtest %s failed", backtest_id)
            pending.errors.append((backtest_id, "the backtest failed on an internal error"))
        if time.monotonic() - pending.since >= FLUSH_SECONDS:
            pending = await _flush(database, pending, outcome)
    await _flush(database, pending, outcome)
    return outcome


class _RunFailed(Exception):
    """An expected failure; the message is shown to the user."""


def _range_of(spec: RunSpec) -> RangeOf:
    return (spec.exchange, spec.symbol, spec.timeframe, spec.start, spec.end)


async def _range_versions(
    session: AsyncSession, claimed: Iterable[repository.Claimed]
) -> dict[RangeOf, RangeVersion]:
    """The candles' version of each range the claimed runs of a sweep read (usually one), read
    with the claim: no session of its own per chunk. A run whose params do not parse is left
    out: it fails in its turn."""
    ranges: set[RangeOf] = set()
    for job in claimed:
        try:
            if job.sweep_id is not None:
                ranges.add(_range_of(RunSpec.of(job.params)))
        except Exception:  # noqa: S112  # reported when the run is run
            continue
    return {key: await candles_repository.range_version(session, *key) for key in ranges}


async def _candles(
    database: Database,
    cache: CandleCache,
    loads: dict[RangeOf, Loaded | str],
    versions: dict[RangeOf, RangeVersion],
    spec: RunSpec,
    sweep_id: uuid.UUID | None,
    shared_dir: Path | None = None,
) -> Loaded:
    """The run's candles, checked once per range and chunk (``versions``, read when claimed)."""
    key = _range_of(spec)
    loaded = loads.get(key)
    if loaded is None:
        async with database.session_scope() as session:
            loaded = await cache.load(
                session, sweep_id, *key, version=versions.get(key), shared_dir=shared_dir
            )
            if len(loaded.candles) < 2:
                found = "no candles" if len(loaded.candles) == 0 else "only one candle"
                loaded = await describe_missing_range(session, *key, found)
        loads[key] = loaded
    if isinstance(loaded, str):
        raise _RunFailed(loaded)
    return loaded


def _figures(spec: RunSpec, loaded: Loaded) -> dict[str, Any]:
    started = time.perf_counter()
    run = spec.run(loaded.candles, loaded.shared)
    seconds = time.perf_counter() - started
    return spec.figures(run, loaded.candles, seconds)


async def _flush(database: Database, pending: _Pending, outcome: ChunkOutcome) -> _Pending:
    """Store the pending runs (each statement whole on its own); a fresh, empty batch."""
    if pending.results or pending.errors:
        async with database.statement_scope() as session:
            stored = len(await repository.finish_many(session, pending.results))
            failed = [
                await repository.fail(session, backtest_id, message)
                for backtest_id, message in pending.errors
            ]
        outcome.succeeded += stored
        outcome.failed += sum(failed)
        outcome.dropped += len(pending.results) - stored + failed.count(False)
        BACKTESTS.labels(BacktestStatus.SUCCEEDED).inc(stored)
        BACKTESTS.labels(BacktestStatus.FAILED).inc(sum(failed))
    return _Pending()
