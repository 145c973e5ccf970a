"""SQL for backtests and sweeps: ownership-scoped reads, the limits' counts, and the worker's
conditional status changes (each one an UPDATE ... WHERE status = ..., so a redelivered or late
task changes nothing it should not)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, undefer

from autogrid.core.sqltypes import utcnow
from autogrid.models import User
from autogrid.models.backtest import Backtest, BacktestStatus, BacktestSweep

ACTIVE = (BacktestStatus.QUEUED, BacktestStatus.RUNNING)


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialise a user's submissions, so two concurrent ones cannot both pass the limit."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def count_active_jobs(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Backtests queued or running outside sweeps, plus sweeps with a run queued or running."""
    active = and_(Backtest.user_id == user_id, Backtest.status.in_(ACTIVE))
    single = await session.scalar(select(func.count()).where(active, Backtest.sweep_id.is_(None)))
    sweeps = await session.scalar(
        select(func.count(func.distinct(Backtest.sweep_id))).where(
            active, Backtest.sweep_id.is_not(None)
        )
    )
    return (single or 0) + (sweeps or 0)


def add(session: AsyncSession, *rows: Backtest | BacktestSweep) -> None:
    session.add_all(rows)


# --- backtests ----------------------------------------------------------------------------


async def get_backtest(
    session: AsyncSession, user_id: uuid.UUID, backtest_id: uuid.UUID, *, for_update: bool = False
) -> Backtest | None:
    """The backtest if ``user_id`` owns it. ``for_update`` locks it until the transaction ends."""
    query = select(Backtest).where(Backtest.id == backtest_id, Backtest.user_id == user_id)
    if for_update:
        query = query.with_for_update()
    backtest: Backtest | None = await session.scalar(query)
    return backtest


async def get_report(
    session: AsyncSession, user_id: uuid.UUID, backtest_id: uuid.UUID
) -> Backtest | None:
    """The backtest with its HTML report loaded (the one query that loads it)."""
    backtest: Backtest | None = await session.scalar(
        select(Backtest)
        .options(undefer(Backtest.report_html))
        .where(Backtest.id == backtest_id, Backtest.user_id == user_id)
    )
    return backtest


async def list_backtests(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
    in_sweep: bool | None = None,
) -> tuple[Sequence[Backtest], int]:
    query = select(Backtest).where(Backtest.user_id == user_id)
    if in_sweep is not None:
        in_one = Backtest.sweep_id.is_not(None)
        query = query.where(in_one if in_sweep else ~in_one)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.options(defer(Backtest.results, raiseload=True))
        .order_by(Backtest.created_at.desc(), Backtest.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total or 0


async def delete_backtest(session: AsyncSession, backtest: Backtest) -> None:
    await session.execute(delete(Backtest).where(Backtest.id == backtest.id))
    session.expunge(backtest)


# --- sweeps -------------------------------------------------------------------------------


async def get_sweep(
    session: AsyncSession, user_id: uuid.UUID, sweep_id: uuid.UUID, *, for_update: bool = False
) -> BacktestSweep | None:
    query = select(BacktestSweep).where(
        BacktestSweep.id == sweep_id, BacktestSweep.user_id == user_id
    )
    if for_update:
        query = query.with_for_update()
    sweep: BacktestSweep | None = await session.scalar(query)
    return sweep


@dataclass(frozen=True, slots=True)
class SweepRunFacts:
    id: uuid.UUID
    status: str
    progress: float
    error: str | None
    sweep: dict[str, Any]  # the run's params["sweep"]: index, parameters (and sample, holdout)
    start: str
    end: str
    value: Any  # the stored results' figure named by the sweep's rank_by (JSON), if any
    figures: dict[str, Any]  # the stored results' figures asked for, by name

    @property
    def index(self) -> int:
        return int(self.sweep["index"])

    @property
    def parameters(self) -> dict[str, Any]:
        parameters: dict[str, Any] = self.sweep["parameters"]
        return parameters


async def sweep_runs(
    session: AsyncSession, sweep_id: uuid.UUID, metric: str, figures: Sequence[str] = ()
) -> list[SweepRunFacts]:
    """Each run of the sweep, with figures read from its stored results in SQL (the curves
    and trades are never loaded): ``metric``, and each of ``figures``."""
    result = await session.execute(
        select(
            Backtest.id,
            Backtest.status,
            Backtest.progress,
            Backtest.error,
            Backtest.params["sweep"],
            Backtest.params["start"],
            Backtest.params["end"],
            Backtest.results[metric],
            *(Backtest.results[name] for name in figures),
        ).where(Backtest.sweep_id == sweep_id)
    )
    return [
        SweepRunFacts(
            id_,
            status,
            progress,
            error,
            sweep,
            start,
            end,
            value,
            dict(zip(figures, rest, strict=True)),
        )
        for id_, status, progress, error, sweep, start, end, value, *rest in result.all()
    ]


async def list_sweeps(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[BacktestSweep], int]:
    query = select(BacktestSweep).where(BacktestSweep.user_id == user_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(BacktestSweep.created_at.desc(), BacktestSweep.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total or 0


async def status_counts(
    session: AsyncSession, sweep_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """sweep id -> {status: number of its runs}."""
    if not sweep_ids:
        return {}
    rows = await session.execute(
        select(Backtest.sweep_id, Backtest.status, func.count())
        .where(Backtest.sweep_id.in_(sweep_ids))
        .group_by(Backtest.sweep_id, Backtest.status)
    )
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for sweep_id, status, number in rows:
        if sweep_id is not None:
            counts.setdefault(sweep_id, {})[status] = number
    return counts


async def count_running_runs(session: AsyncSession, sweep_id: uuid.UUID) -> int:
    """How many runs of the sweep are running; locks them all until the transaction ends."""
    statuses = await session.scalars(
        select(Backtest.status).where(Backtest.sweep_id == sweep_id).with_for_update()
    )
    return sum(1 for status in statuses if status == BacktestStatus.RUNNING)


async def delete_sweep(session: AsyncSession, sweep: BacktestSweep) -> None:
    await session.execute(delete(Backtest).where(Backtest.sweep_id == sweep.id))
    await session.execute(delete(BacktestSweep).where(BacktestSweep.id == sweep.id))
    session.expunge(sweep)


# --- the worker's status changes ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    params: dict[str, Any]
    sweep_id: uuid.UUID | None


async def claim(session: AsyncSession, backtest_id: uuid.UUID) -> Claimed | None:
    """queued -> running; the params (and sweep) if this call won the claim, None otherwise
    (already claimed by another delivery, finished, or deleted)."""
    now = utcnow()
    row = (
        await session.execute(
            update(Backtest)
            .where(Backtest.id == backtest_id, Backtest.status == BacktestStatus.QUEUED)
            .values(status=BacktestStatus.RUNNING, started_at=now, updated_at=now, progress=0.0)
            .returning(Backtest.params, Backtest.sweep_id)
        )
    ).one_or_none()
    return None if row is None else Claimed(row[0], row[1])


async def claim_many(
    session: AsyncSession, backtest_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Claimed]:
    """``claim`` for several at once (one statement): those this call won, by id."""
    now = utcnow()
    rows = await session.execute(
        update(Backtest)
        .where(Backtest.id.in_(backtest_ids), Backtest.status == BacktestStatus.QUEUED)
        .values(status=BacktestStatus.RUNNING, started_at=now, updated_at=now, progress=0.0)
        .returning(Backtest.id, Backtest.params, Backtest.sweep_id)
    )
    return {row[0]: Claimed(row[1], row[2]) for row in rows.all()}


async def store_made_results(
    session: AsyncSession, backtest_id: uuid.UUID, results: dict[str, Any], report_html: str
) -> None:
    """Keep the full results and report made on demand for a sweep's run (the same figures as
    it stored), so the next open reads them; a run deleted meanwhile stays deleted."""
    await session.execute(
        update(Backtest)
        .where(Backtest.id == backtest_id, Backtest.status == BacktestStatus.SUCCEEDED)
        .values(results=results, report_html=report_html)
    )


async def set_progress(session: AsyncSession, backtest_id: uuid.UUID, progress: float) -> None:
    await session.execute(
        update(Backtest)
        .where(Backtest.id == backtest_id, Backtest.status == BacktestStatus.RUNNING)
        .values(progress=progress, updated_at=utcnow())
    )


async def finish(
    session: AsyncSession,
    backtest_id: uuid.UUID,
    results: dict[str, Any],
    report_html: str | None,
) -> bool:
    """running -> succeeded; False if the row is no longer running (deleted, or failed as
    stale meanwhile): the results are then dropped rather than overwrite that verdict."""
    now = utcnow()
    done = await session.execute(
        update(Backtest)
        .where(Backtest.id == backtest_id, Backtest.status == BacktestStatus.RUNNING)
        .values(
            status=BacktestStatus.SUCCEEDED,
            results=results,
            report_html=report_html,
            progress=1.0,
            error=None,
            finished_at=now,
            updated_at=now,
        )
        .returning(Backtest.id)
    )
    return done.first() is not None


async def finish_many(
    session: AsyncSession, finished: Sequence[tuple[uuid.UUID, dict[str, Any]]]
) -> set[uuid.UUID]:
    """``finish`` (without a report) for a batch of a sweep's runs, in one statement whatever
    its size: the runs still running move to succeeded with their own results (a ``CASE`` on
    the id), and the statement returns them. The ids stored; the others (deleted, or failed as
    stale) are dropped.

    The ids are the statement's own: a SELECT ... FOR UPDATE first is no lock on SQLite, where
    a run failed between the two was counted as stored. One statement is also whole without a
    transaction around it (``Database.statement_scope``)."""
    if not finished:
        return set()
    now = utcnow()
    table = Backtest.metadata.tables[Backtest.__tablename__]  # Core: no ORM bookkeeping
    results_of = case(
        {key: literal(results, table.c.results.type) for key, results in finished},
        value=table.c.id,
    )
    rows = await session.execute(
        update(table)
        .where(
            table.c.id.in_([backtest_id for backtest_id, _ in finished]),
            table.c.status == BacktestStatus.RUNNING,
        )
        .values(
            status=BacktestStatus.SUCCEEDED,
            results=results_of,
            report_html=None,
            progress=1.0,
            error=None,
            finished_at=now,
            updated_at=now,
        )
        .returning(table.c.id)
    )
    return set(rows.scalars().all())


async def fail(session: AsyncSession, backtest_id: uuid.UUID, error: str) -> bool:
    """running -> failed with a message for the user; False if no longer running."""
    now = utcnow()
    done = await session.execute(
        update(Backtest)
        .where(Backtest.id == backtest_id, Backtest.status == BacktestStatus.RUNNING)
        .values(status=BacktestStatus.FAILED, error=error, finished_at=now, updated_at=now)
        .returning(Backtest.id)
    )
    return done.first() is not None


async def fail_stale(session: AsyncSession, started_before: datetime, error: str) -> int:
    """Fail every backtest still running since before ``started_before`` (its worker died)."""
    now = utcnow()
    done = await session.execute(
        update(Backtest)
        .where(Backtest.status == BacktestStatus.RUNNING, Backtest.started_at < started_before)
        .values(status=BacktestStatus.FAILED, error=error, finished_at=now, updated_at=now)
        .returning(Backtest.id)
    )
    return len(done.all())


async def touch_waiting(
    session: AsyncSession, waiting_since: datetime, *, limit: int
) -> list[uuid.UUID]:
    """Queued backtests untouched since ``waiting_since`` (their message may be lost): their
    ``updated_at`` is reset, so each is sent again at most once per waiting period."""
    stale: ColumnElement[bool] = and_(
        Backtest.status == BacktestStatus.QUEUED, Backtest.updated_at < waiting_since
    )
    ids = list(
        await session.scalars(
            select(Backtest.id)
            .where(stale)
            .order_by(Backtest.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        await session.execute(
            update(Backtest).where(Backtest.id.in_(ids)).values(updated_at=utcnow())
        )
    return ids
