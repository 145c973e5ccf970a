"""/api/v1/backtests: submit, watch, read, report and delete backtests; parameter sweeps."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Response, status
from fastapi.responses import HTMLResponse

from autogrid.api.deps import SessionDep, SettingsDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.backtest import on_demand, service, sweep_report, sweeps
from autogrid.backtest.report_trades import SCRIPT_HASH
from autogrid.backtest.schemas import (
    BacktestCreate,
    BacktestPage,
    BacktestRead,
    RankMetric,
    SweepCreate,
    SweepPage,
    SweepRead,
)
from autogrid.backtest.tasks import BacktestQueue, QueueAfterCommit, backtest_queue
from autogrid.bots.dependencies import MarketRulesDep
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import PageDep

router = APIRouter(prefix="/backtests", tags=["backtests"])

# Only a UUID is a backtest id: "/backtests/sweeps" must never be read as a backtest whose id is
# "sweeps" (DELETE on it answered 422 "backtest_id is not a UUID" instead of 405).
BACKTEST_PATH = "/{backtest_id:uuid}"

# The report needs its own inline styles and its one sorting script, nothing else: should any
# text in it ever escape its escaping, the browser runs no other script and fetches nothing.
REPORT_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def _after_commit(
    background: BackgroundTasks, queue: Annotated[BacktestQueue, Depends(backtest_queue)]
) -> QueueAfterCommit:
    return QueueAfterCommit(background, queue)


AfterCommitDep = Annotated[QueueAfterCommit, Depends(_after_commit)]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    422: _error("Invalid body, a config the strategy refuses, or a range over the limit"),
    429: _error("Too many backtests or sweeps in progress (details: limit, active)"),
    503: _error("The exchange's market rules could not be loaded; retry"),
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _error("The status forbids this (details.status is the current one)"),
}


@router.post(
    "",
    response_model=BacktestRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_SUBMIT_ERRORS,
)
async def create_backtest(
    body: BacktestCreate,
    user: CurrentUser,
    session: SessionDep,
    markets: MarketRulesDep,
    settings: SettingsDep,
    after_commit: AfterCommitDep,
) -> BacktestRead:
    """Queue a backtest of a bot config over stored candles; poll it for progress and results."""
    backtest = await service.create_backtest(session, user, body, markets, settings)
    after_commit.send([backtest.id])
    return service.backtest_read(backtest)


@router.get("", response_model=BacktestPage)
async def list_backtests(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    in_sweep: Annotated[
        bool | None,
        Query(description="false: only backtests run alone; true: only sweeps' runs; omitted: all"),
    ] = None,
) -> BacktestPage:
    """List your backtests, newest first (without results)."""
    rows, total = await service.list_backtests(session, user, page, in_sweep=in_sweep)
    return BacktestPage(
        items=[service.backtest_item(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/sweeps",
    response_model=SweepRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_SUBMIT_ERRORS,
)
async def create_sweep(
    body: SweepCreate,
    user: CurrentUser,
    session: SessionDep,
    markets: MarketRulesDep,
    settings: SettingsDep,
    after_commit: AfterCommitDep,
) -> SweepRead:
    """Queue one backtest per combination of the varied config values, ranked when all finish."""
    sweep, runs = await sweeps.create_sweep(session, user, body, markets, settings)
    after_commit.send([run.id for run in runs], sweeps.chunk_runs(runs, settings))
    return await sweeps.get_sweep(session, user, sweep.id)


@router.get("/sweeps", response_model=SweepPage)
async def list_sweeps(user: CurrentUser, session: SessionDep, page: PageDep) -> SweepPage:
    """List your sweeps, newest first (without their runs)."""
    items, total = await sweeps.list_sweeps(session, user, page)
    return SweepPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/sweeps/{sweep_id}", response_model=SweepRead)
async def get_sweep(sweep_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> SweepRead:
    """A sweep's runs with their status; best first by its metric once every run finished."""
    return await sweeps.get_sweep(session, user, sweep_id)


@router.get(
    "/sweeps/{sweep_id}/report",
    # HTML page, JSON errors: with response_class=HTMLResponse the OpenAPI would claim text/html
    # for the errors too (see _REPORT_RESPONSES).
    response_class=Response,
    response_model=None,
    responses={
        200: {
            "description": "One self-contained HTML page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        422: _error("x or y is not a field the sweep varies, or they are the same field"),
    },
)
async def get_sweep_report(
    sweep_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    x: Annotated[str | None, Query(description="heat map columns: a varied field")] = None,
    y: Annotated[str | None, Query(description="heat map rows: another varied field")] = None,
    metric: Annotated[
        RankMetric | None, Query(description="the figure mapped; default: rank_by")
    ] = None,
) -> HTMLResponse:
    """A sweep as one HTML page: heat map over two varied fields, in/out of sample, ranking."""
    page = await sweep_report.get_sweep_report(session, user, sweep_id, x=x, y=y, metric=metric)
    return HTMLResponse(page, headers=REPORT_HEADERS)


@router.delete("/sweeps/{sweep_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_CONFLICT)
async def delete_sweep(sweep_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Delete a sweep and its runs (409 while a run is running)."""
    await sweeps.delete_sweep(session, user, sweep_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    BACKTEST_PATH,
    response_model=BacktestRead,
    responses={
        409: _error("A sweep's run whose range's candles changed since it ran: run it again")
    },
)
async def get_backtest(
    backtest_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> BacktestRead:
    """Read one of your backtests: status, progress, and its results once succeeded."""
    return await on_demand.read_backtest(session, settings, user, backtest_id)


# The page is HTML and every error is the JSON error shape: with response_class=HTMLResponse the
# OpenAPI would claim text/html for the errors too.
_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report page",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
    **_CONFLICT,
}


@router.get(
    BACKTEST_PATH + "/report",
    response_class=Response,
    response_model=None,
    responses=_REPORT_RESPONSES,
)
async def get_report(
    backtest_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """A succeeded backtest as one self-contained HTML page with charts (409 before that)."""
    page = await on_demand.get_report(session, settings, user, backtest_id)
    return HTMLResponse(page, headers=REPORT_HEADERS)


@router.delete(BACKTEST_PATH, status_code=status.HTTP_204_NO_CONTENT, responses=_CONFLICT)
async def delete_backtest(
    backtest_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    """Delete a queued or finished backtest (409 while it runs, or if a sweep's run)."""
    await service.delete_backtest(session, user, backtest_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
