"""/smart-trades: open a trade with its exits set in advance, follow it, close or cancel it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status

from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.bots.dependencies import AfterCommitDep, MarketRulesDep
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import PageDep
from autogrid.smart_trades import service
from autogrid.smart_trades.schemas import (
    SmartTradeCreate,
    SmartTradeDetail,
    SmartTradePage,
    SmartTradeRead,
)

router = APIRouter(prefix="/smart-trades", tags=["smart trades"])


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: _error("The plan's bot limit is reached (a smart trade runs as a bot)"),
    404: _error("credential_id: no such credential of yours"),
    409: _error("The trade could not be started (a live credential without access, say)"),
    422: _error("Invalid body: shares over 100, a stop above the entry, below the minimums..."),
    503: _error("The exchange's market rules could not be loaded; retry"),
}
_END_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _error("No such smart trade of yours"),
    409: _error("The trade is already over (details.status is its bot's)"),
}


@router.post(
    "",
    response_model=SmartTradeRead,
    status_code=status.HTTP_201_CREATED,
    responses=_CREATE_ERRORS,
)
async def create_smart_trade(
    body: SmartTradeCreate,
    user: CurrentUser,
    session: SessionDep,
    markets: MarketRulesDep,
    after_commit: AfterCommitDep,
) -> SmartTradeRead:
    """Open a smart trade: created and started at once."""
    transition = await service.create(session, user, body, markets)
    after_commit.dispatch(transition.command)
    return service.trade_read(transition.bot)


@router.get("", response_model=SmartTradePage)
async def list_smart_trades(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> SmartTradePage:
    """List your smart trades, newest first."""
    items, total = await service.list_trades(session, user, page)
    return SmartTradePage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{trade_id}", response_model=SmartTradeDetail, responses={404: _END_ERRORS[404]})
async def get_smart_trade(
    trade_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> SmartTradeDetail:
    """One smart trade with its orders and result."""
    return await service.detail(session, user, trade_id)


@router.post(
    "/{trade_id}/close",
    response_model=SmartTradeRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_END_ERRORS,
)
async def close_smart_trade(
    trade_id: uuid.UUID, user: CurrentUser, session: SessionDep, after_commit: AfterCommitDep
) -> SmartTradeRead:
    """Close now: cancel its orders and sell what it holds at market."""
    transition = await service.close(session, user, trade_id)
    after_commit.dispatch(transition.command)
    return service.trade_read(transition.bot)


@router.post(
    "/{trade_id}/cancel",
    response_model=SmartTradeRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_END_ERRORS,
)
async def cancel_smart_trade(
    trade_id: uuid.UUID, user: CurrentUser, session: SessionDep, after_commit: AfterCommitDep
) -> SmartTradeRead:
    """Cancel: its orders are cancelled, what it bought stays held."""
    transition = await service.cancel(session, user, trade_id)
    after_commit.dispatch(transition.command)
    return service.trade_read(transition.bot)
