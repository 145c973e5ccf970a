"""Parameter sweeps: one base backtest run once per combination of varied config values.

A sweep varies fields of the base backtest's ``config`` (e.g. ``grid_count``, ``lower_price``);
its runs are the cartesian product of the value lists, in a fixed order (the first field varies
slowest), each a ``Backtest`` row with the sweep's id that remembers its index and values. Every
combination is validated up front like a backtest of its own; an invalid one makes the whole
sweep a 422 naming it. The runs go to the workers as one group of run tasks; a worker loads
the sweep's candles once and shares indicator series between its runs (``candle_cache``), and
each run gives exactly the results it gives alone. While they run, ``runs_done`` and
``best_so_far`` show how far the sweep got and the best it found yet.

The ranking is computed from the stored results of the runs (figures read in SQL), never from
what a worker reported, so it is the same whenever it is asked: succeeded runs with the figure,
best first by ``order`` (ties keep combination order); then succeeded runs without it (e.g. no
profit factor without a losing trade) and failed runs, unranked, in combination order. A figure
scaled to a year (CAGR, Sharpe, Sortino, Calmar) is never given for a run spanning under
``metrics.MIN_ANNUALISED_DAYS``: ranking by one over a shorter range is refused up front (422).

A sweep may hold the end of its range out of sample (``holdout``): each combination then runs in
and out of sample, one entry per combination shows both parts' figures, and the ranking reads the
part the sweep names. ``combinations`` says how many parameter sets were tried either way.

The combinations are made in sweep_combinations.py and ranked in sweep_ranking.py (both pure).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest import holdout, metrics, repository, service, sweep_chunks
from autogrid.backtest.schemas import (
    ANNUALISED_METRICS,
    BACKTEST_CREATE,
    AnyBacktestCreate,
    RankMetric,
    Sample,
    SortOrder,
    SweepBest,
    SweepCounts,
    SweepCreate,
    SweepListItem,
    SweepRead,
    SweepRunRead,
    SweepStatus,
)
from autogrid.backtest.sweep_combinations import (
    combinations,
    describe,
    sweep_size,
    vary_problem,
)
from autogrid.backtest.sweep_ranking import Ranked, RunRow, rank_runs, sweep_status
from autogrid.bots.markets import MarketRulesProvider
from autogrid.bots.validation import invalid
from autogrid.core.config import Settings
from autogrid.core.errors import NotFound, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.types import MarketRules
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.models import UserIdentity
from autogrid.models.backtest import Backtest, BacktestStatus, BacktestSweep
from autogrid.observability.metrics import BACKTESTS

logger = logging.getLogger(__name__)

MAX_NAMED_COMBINATIONS = 10  # invalid combinations listed in one error's details

# --- submitting ---------------------------------------------------------------------------


async def create_sweep(
    session: AsyncSession,
    user: UserIdentity,
    body: SweepCreate,
    markets: MarketRulesProvider,
    limits: Settings,
) -> tuple[BacktestSweep, list[Backtest]]:
    base = body.base
    size = holdout.check_size(sweep_size(body.vary), body, limits.backtest_max_sweep_runs)
    problem = vary_problem(body.vary, type(base.config))
    if problem is not None:
        raise invalid(problem, "vary")
    service.check_range(base, limits, "base")
    split = holdout.split_at(body)
    _check_rankable(body, *holdout.sample_range(body, split))
    market = await service.market_rules(markets, base.exchange, base.symbol)
    all_params = holdout.split_runs(_sweep_params(base, body.vary, market), body, split)
    await service.reserve_slot(session, user, limits)
    now = utcnow()
    sweep = BacktestSweep(
        id=uuid.uuid4(),
        user_id=user.id,
        vary=body.vary,
        rank_by=body.rank_by,
        sort_order=body.order,
        runs=size,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, sweep)
    await session.flush()  # the sweep first: its runs reference it
    runs = [service.new_run(user, params, sweep_id=sweep.id) for params in all_params]
    repository.add(session, *runs)
    await session.flush()
    BACKTESTS.labels(BacktestStatus.QUEUED).inc(len(runs))
    logger.info("sweep queued sweep_id=%s user_id=%s runs=%d", sweep.id, user.id, size)
    return sweep, runs


def chunk_runs(runs: Sequence[Backtest], limits: Settings) -> int:
    """How many of the sweep's runs go in one task message (``sweep_chunks.chunk_size``)."""
    if not runs:
        return 1
    longest = max(
        datetime.fromisoformat(run.params["end"]) - datetime.fromisoformat(run.params["start"])
        for run in runs
    )
    step = timedelta(milliseconds=parse_timeframe(runs[0].params["timeframe"]).ms)
    return sweep_chunks.chunk_size(len(runs), int(longest / step), limits.backtest_sweep_chunk_runs)


def _check_rankable(body: SweepCreate, start: datetime, end: datetime) -> None:
    """A figure scaled to a year is null on a shorter run: ranking by it would rank nothing."""
    if body.rank_by not in ANNUALISED_METRICS:
        return
    # The run spans its first close to its last: the range less one candle.
    span = end - start - timedelta(milliseconds=parse_timeframe(body.base.timeframe).ms)
    if span >= timedelta(days=metrics.MIN_ANNUALISED_DAYS):
        return
    days = span / timedelta(days=1)
    message = (
        f"{body.rank_by} is scaled to a year and is not given for runs spanning under "
        f"{metrics.MIN_ANNUALISED_DAYS} days (these runs span {days:.1f} days): "
        "rank by return_pct, max_drawdown_pct, profit_factor... or use a longer range"
    )
    raise Unprocessable(
        message,
        details=[
            service.detail(
                message,
                ("rank_by",),
                "range_too_short_to_annualise",
                min_days=metrics.MIN_ANNUALISED_DAYS,
            )
        ],
    )


def _sweep_params(
    base: AnyBacktestCreate, vary: dict[str, list[Any]], market: MarketRules
) -> list[dict[str, Any]]:
    try:
        base_config = service.config_of(base).model_dump(mode="json")
    except service.RunRejected as error:
        raise invalid(str(error), "base", *error.loc, kind="strategy_config") from None
    base_json = base.model_dump(mode="json")
    accepted: list[dict[str, Any]] = []
    refused: list[tuple[dict[str, Any], str]] = []
    for index, combination in enumerate(combinations(vary)):
        data = {**base_json, "config": {**base_config, **combination}}
        try:
            params = service.run_params(BACKTEST_CREATE.validate_python(data), market)
        except ValidationError as error:
            refused.append((combination, _first_problem(error)))
        except service.RunRejected as error:
            refused.append((combination, str(error)))
        else:
            params["sweep"] = {"index": index, "parameters": combination}
            accepted.append(params)
    if refused:
        first, reason = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise Unprocessable(
            f"combination {describe(first)} is invalid: {reason}{more}",
            details=[
                service.detail(reason, ("vary",), "invalid_combination", combination=combination)
                for combination, reason in refused[:MAX_NAMED_COMBINATIONS]
            ],
        )
    return accepted


def _first_problem(error: ValidationError) -> str:
    item = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in item["loc"][1:])  # loc[0] is the bot type
    return f"{where}: {item['msg']}" if where else str(item["msg"])


# --- reading and deleting -----------------------------------------------------------------


async def get_sweep(session: AsyncSession, user: UserIdentity, sweep_id: uuid.UUID) -> SweepRead:
    """The sweep with each run's status; ranked from the stored results once all finished."""
    sweep = await repository.get_sweep(session, user.id, sweep_id)
    if sweep is None:
        raise NotFound("sweep not found")
    figures = [metric.value for metric in RankMetric]
    rows = await repository.sweep_runs(session, sweep.id, sweep.rank_by, figures)
    counts = Counter(row.status for row in rows)
    finished = sweep_status(counts) is SweepStatus.FINISHED
    split = holdout.holdout_of([row.sweep for row in rows])
    order = SortOrder(sweep.sort_order)
    if split is not None:
        runs = _held_out_runs(rows, split.rank_by_sample, order, finished)
        ranked_rows = [r for r in rows if r.sweep.get("sample") == split.rank_by_sample.value]
    else:
        runs = _runs(rows, order, finished)
        ranked_rows = list(rows)
    item = _sweep_item(sweep, counts)
    return SweepRead(
        **dict(item),
        combinations=len(runs),
        holdout=split,
        best_so_far=best_so_far(ranked_rows, order),
        runs=runs,
    )


def best_so_far(rows: Sequence[repository.SweepRunFacts], order: SortOrder) -> SweepBest | None:
    """The first of the runs ranked as if the sweep had finished with the ones done so far."""
    ranked = rank_runs(
        [RunRow(row.id, row.index, row.status, row.value) for row in rows], order, finished=True
    )
    if not ranked or ranked[0].rank is None or ranked[0].value is None:
        return None
    best = next(row for row in rows if row.id == ranked[0].row.id)
    return SweepBest(id=best.id, parameters=best.parameters, value=ranked[0].value)


def _runs(
    rows: Sequence[repository.SweepRunFacts], order: SortOrder, finished: bool
) -> list[SweepRunRead]:
    by_id = {row.id: row for row in rows}
    ranked = rank_runs(
        [RunRow(row.id, row.index, row.status, row.value) for row in rows], order, finished=finished
    )
    return [_run_read(by_id[entry.row.id], entry) for entry in ranked]


def _held_out_runs(
    rows: Sequence[repository.SweepRunFacts],
    ranked_sample: Sample,
    order: SortOrder,
    finished: bool,
) -> list[SweepRunRead]:
    """One entry per combination: ranked by its ``ranked_sample`` run, both parts beside."""
    parts = {(row.index, row.sweep.get("sample")): row for row in rows}
    ranked_rows = [row for row in rows if row.sweep.get("sample") == ranked_sample.value]
    ranked = rank_runs(
        [RunRow(row.id, row.index, row.status, row.value) for row in ranked_rows],
        order,
        finished=finished,
    )
    by_id = {row.id: row for row in ranked_rows}
    reads = []
    for entry in ranked:
        index = entry.row.index
        samples = [parts.get((index, sample.value)) for sample in (Sample.IN, Sample.OUT)]
        inside, outside = (None if part is None else holdout.sample_read(part) for part in samples)
        read = _run_read(by_id[entry.row.id], entry)
        reads.append(read.model_copy(update={"in_sample": inside, "out_of_sample": outside}))
    return reads


def _run_read(row: repository.SweepRunFacts, entry: Ranked) -> SweepRunRead:
    return SweepRunRead(
        id=row.id,
        status=BacktestStatus(row.status),
        progress=row.progress,
        parameters=row.parameters,
        value=entry.value,
        rank=entry.rank,
        error=row.error,
    )


async def list_sweeps(
    session: AsyncSession, user: UserIdentity, page: PageParams
) -> tuple[list[SweepListItem], int]:
    rows, total = await repository.list_sweeps(
        session, user.id, limit=page.limit, offset=page.offset
    )
    counts = await repository.status_counts(session, [sweep.id for sweep in rows])
    return [_sweep_item(sweep, counts.get(sweep.id, {})) for sweep in rows], total


async def delete_sweep(session: AsyncSession, user: UserIdentity, sweep_id: uuid.UUID) -> None:
    """Delete a sweep and its runs; 409 while one of them is running."""
    sweep = await repository.get_sweep(session, user.id, sweep_id, for_update=True)
    if sweep is None:
        raise NotFound("sweep not found")
    # Locks the runs too: a worker claiming one now waits, then finds it deleted.
    running = await repository.count_running_runs(session, sweep.id)
    if running:
        raise service.BacktestStatusConflict(
            f"{running} runs of this sweep are running: wait for them to finish",
            BacktestStatus.RUNNING,
        )
    await repository.delete_sweep(session, sweep)
    logger.info("sweep deleted sweep_id=%s user_id=%s", sweep_id, user.id)


def _sweep_item(sweep: BacktestSweep, counts: Mapping[str, int]) -> SweepListItem:
    return SweepListItem(
        id=sweep.id,
        status=sweep_status(counts),
        vary=sweep.vary,
        rank_by=RankMetric(sweep.rank_by),
        order=SortOrder(sweep.sort_order),
        runs_total=sweep.runs,
        runs_done=counts.get(BacktestStatus.SUCCEEDED, 0) + counts.get(BacktestStatus.FAILED, 0),
        counts=SweepCounts(**{status.value: counts.get(status, 0) for status in BacktestStatus}),
        created_at=sweep.created_at,
    )
