"""A sweep run's full results and report, made when someone opens the run, then kept.

A sweep's run stores only its figures (``run_spec``). Reading it (``GET /backtests/{id}``) or its
report runs it again from its stored params on the same candles, builds the results and the
report exactly as a single backtest stores them, and keeps both on the row: the second open
reads them like any backtest's. A run is deterministic, so this is what the worker would have
stored; the figures made now are checked against the stored ones all the same, since the
candles of the range may have been re-imported since: then the answer is 409 (the ranking was
made on other candles), never a report that contradicts the sweep.

Synchronous, in the request: a run over a month takes milliseconds and one over a year of 1m
candles about a second (loading the candles, the run, the report), short enough to wait for,
and an asynchronous status would change what a client polls for. The work runs in a thread with
a database connection of its own, so the event loop never waits on it; the row is updated in
the request's transaction. Two opens at once both make it and store the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest import repository, service
from autogrid.backtest.run_spec import RunSpec, full_results, is_summary, summary_of
from autogrid.backtest.schemas import BacktestRead
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.market_data import repository as candles_repository
from autogrid.models import UserIdentity
from autogrid.models.backtest import Backtest, BacktestStatus
from autogrid.trading.candles import CandleArrays

logger = logging.getLogger(__name__)


class CandlesChanged(service.BacktestStatusConflict):
    """The range's candles are not those the sweep ran on: its figures cannot be reproduced."""

    code = "backtest_candles_changed"


async def read_backtest(
    session: AsyncSession, settings: Settings, user: UserIdentity, backtest_id: uuid.UUID
) -> BacktestRead:
    """The user's backtest as ``service.backtest_read`` shows it, with full results."""
    backtest = await service.get_backtest(session, user, backtest_id)
    if _needs_making(backtest):
        results, _ = await _made(session, settings, backtest)
        return service.backtest_read(backtest, results=results)
    return service.backtest_read(backtest)


async def get_report(
    session: AsyncSession, settings: Settings, user: UserIdentity, backtest_id: uuid.UUID
) -> str:
    """The backtest's HTML report (``service.get_report``), made first for a sweep's run."""
    backtest = await service.get_backtest(session, user, backtest_id)
    if _needs_making(backtest):
        _, report = await _made(session, settings, backtest)
        return report
    return await service.get_report(session, user, backtest_id)


def _needs_making(backtest: Backtest) -> bool:
    return (
        backtest.sweep_id is not None
        and backtest.status == BacktestStatus.SUCCEEDED
        and backtest.results is not None
        and is_summary(backtest.results)
    )


async def _made(
    session: AsyncSession, settings: Settings, backtest: Backtest
) -> tuple[dict[str, Any], str]:
    stored = backtest.results
    assert stored is not None  # _needs_making
    results, report, figures = await asyncio.to_thread(remake, settings, backtest.params, stored)
    if figures != stored:
        logger.warning("backtest %s: its figures differ on the candles now", backtest.id)
        raise CandlesChanged(
            "the candles of this run's range changed since its sweep ran, so its results "
            "cannot be remade as ranked: run the sweep again",
            backtest.status,
        )
    await repository.store_made_results(session, backtest.id, results, report)
    logger.info("backtest %s: full results made on demand and kept", backtest.id)
    return results, report


def remake(
    settings: Settings, params: dict[str, Any], stored: dict[str, Any]
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(full results, report, their figures as a sweep stores them), in this thread's loop."""
    spec = RunSpec.of(params)
    candles = asyncio.run(_load(settings, spec))
    if len(candles) < 2:
        return {}, "", {}  # differs from any stored figures: CandlesChanged
    # The engine time shown is the sweep's own run's, so the bytes are those it would have kept.
    run = spec.run(candles)
    result = spec.result(run, candles, stored.get("run_seconds"))
    results, report = full_results(spec, result, run)
    return results, report, summary_of(result)


async def _load(settings: Settings, spec: RunSpec) -> CandleArrays:
    database = Database.from_settings(settings, pooled=False)
    try:
        async with database.session_scope() as session:  # a year's in parts: half the wait
            return await candles_repository.load_arrays_in_parts(
                session, spec.exchange, spec.symbol, spec.timeframe, spec.start, spec.end
            )
    finally:
        await database.dispose()
