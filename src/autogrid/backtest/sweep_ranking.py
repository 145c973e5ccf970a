"""Ranking a sweep's runs by a figure of their stored results (pure): succeeded runs with the
figure, best first (ties keep combination order); then the others, unranked, in combination
order. And the sweep's status from its runs' statuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from autogrid.backtest.schemas import SortOrder, SweepStatus
from autogrid.models.backtest import BacktestStatus


@dataclass(frozen=True, slots=True)
class RunRow:
    """What the ranking needs of one run, as stored."""

    id: Any
    index: int
    status: str
    value: Any  # the rank_by figure from the stored results (JSON), if any


@dataclass(frozen=True, slots=True)
class Ranked:
    row: RunRow
    value: float | None
    rank: int | None


def figure(raw: Any) -> Decimal | None:
    """A stored figure as a comparable number (money is stored as text); None if absent."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        number = Decimal(str(raw))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def sweep_status(counts: Mapping[str, int]) -> SweepStatus:
    """From the number of runs in each status."""
    queued = counts.get(BacktestStatus.QUEUED, 0)
    running = counts.get(BacktestStatus.RUNNING, 0)
    if queued and queued == sum(counts.values()):
        return SweepStatus.QUEUED
    if queued or running:
        return SweepStatus.RUNNING
    return SweepStatus.FINISHED


def rank_runs(rows: Sequence[RunRow], order: SortOrder, *, finished: bool) -> list[Ranked]:
    """Best first when ``finished``; otherwise combination order, nobody ranked yet."""
    by_index = sorted(rows, key=lambda row: row.index)
    values = {row.index: figure(row.value) for row in by_index}
    if not finished:
        return [Ranked(row, _shown(values[row.index]), None) for row in by_index]
    scored = [
        row
        for row in by_index
        if row.status == BacktestStatus.SUCCEEDED and values[row.index] is not None
    ]
    # sorted() is stable, with reverse=True too: equal figures keep combination order.
    best_first = sorted(
        scored,
        key=lambda row: values[row.index] or Decimal(0),
        reverse=order is SortOrder.DESC,
    )
    ranked = [
        Ranked(row, _shown(values[row.index]), place)
        for place, row in enumerate(best_first, start=1)
    ]
    chosen = {row.index for row in best_first}
    ranked += [
        Ranked(row, _shown(values[row.index]), None) for row in by_index if row.index not in chosen
    ]
    return ranked


def _shown(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
