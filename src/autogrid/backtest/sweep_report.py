"""The sweep report's rules: which parameters and figure the heat map may show, and what the page
is given (the sweep as ``sweeps.get_sweep`` reads it, each run's stored figures, the setup).

The heat map's ``x`` and ``y`` must be fields the sweep varies (422 otherwise, naming them);
left out, they are its first two varied fields in the order the sweep's read lists ``vary``
(a one-field sweep draws one row). ``metric`` is
any figure a sweep can be ranked by; left out, the sweep's own ``rank_by``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest import repository, sweeps
from autogrid.backtest.schemas import RankMetric, SweepRead
from autogrid.backtest.service import detail
from autogrid.backtest.sweep_report_html import SweepPage, render_sweep_report
from autogrid.core.errors import Unprocessable
from autogrid.models import UserIdentity
from autogrid.models.backtest import BacktestStatus


async def get_sweep_report(
    session: AsyncSession,
    user: UserIdentity,
    sweep_id: uuid.UUID,
    *,
    x: str | None = None,
    y: str | None = None,
    metric: RankMetric | None = None,
) -> str:
    sweep = await sweeps.get_sweep(session, user, sweep_id)  # 404 for another user's
    x, y = _axes(sweep, x, y)
    names = [name.value for name in RankMetric]
    rows = await repository.sweep_runs(session, sweep.id, sweep.rank_by, names)
    figures = {
        row.id: row.figures if row.status == BacktestStatus.SUCCEEDED else {} for row in rows
    }
    first = await repository.get_backtest(session, user.id, rows[0].id) if rows else None
    setup = _setup(sweep, first.params if first is not None else {})
    page = SweepPage(sweep, setup, figures, x, y, metric or sweep.rank_by)
    params = first.params if first is not None else {}
    title = (
        f"Sweep: {params.get('type', '?')} on {params.get('exchange', '?')} "
        f"{params.get('symbol', '?')} {params.get('timeframe', '')}"
    )
    return render_sweep_report(page, title)


def _axes(sweep: SweepRead, x: str | None, y: str | None) -> tuple[str, str | None]:
    varied = list(sweep.vary)
    problems = [
        detail(
            f"{name} is not a field this sweep varies; use one of {', '.join(varied)}",
            (),
            "unknown_sweep_field",
        )
        | {"loc": ["query", where]}
        for where, name in (("x", x), ("y", y))
        if name is not None and name not in varied
    ]
    if x is not None and x == y:
        message = "x and y must be two different fields"
        problems.append(detail(message, (), "same_sweep_field") | {"loc": ["query", "y"]})
    if problems:
        raise Unprocessable(str(problems[0]["msg"]), details=problems)
    x = x or next(name for name in varied if name != y)
    if y is None:
        y = next((name for name in varied if name != x), None)
    return x, y


def _setup(sweep: SweepRead, params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    fees = params.get("fees", {})
    rows = [
        ("Bot type", str(params.get("type", ""))),
        ("Market", f"{params.get('exchange', '')} {params.get('symbol', '')}"),
        ("Timeframe", str(params.get("timeframe", ""))),
        ("Initial balance", str(params.get("initial_balance", ""))),
        ("Fees (maker / taker)", f"{fees.get('maker', '')} / {fees.get('taker', '')}"),
        ("Slippage", str(params.get("slippage", ""))),
    ]
    if sweep.holdout is None:
        rows.append(("Range", f"{params.get('start', '')} to {params.get('end', '')}"))
    else:
        rows.append(("Split (out of sample from)", sweep.holdout.split.isoformat()))
    config = params.get("config", {})
    rows += [
        (f"config {name}", str(value))
        for name, value in config.items()
        if name not in sweep.vary and value is not None
    ]
    rows += [(f"varied {name}", ", ".join(map(str, values))) for name, values in sweep.vary.items()]
    return tuple(rows)
