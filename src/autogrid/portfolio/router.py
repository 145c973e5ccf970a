"""/api/v1/portfolio: the user's accounts valued in USDT with their bots' P&L, and the results
per day (``/portfolio/history``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from autogrid.api.deps import SessionDep, SettingsDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.dependencies import ConnectorFactoryDep, KeyRingDep
from autogrid.exchanges.router import PoolDep
from autogrid.portfolio import history as history_service
from autogrid.portfolio import service
from autogrid.portfolio.schemas import Portfolio, PortfolioHistory

router = APIRouter(prefix="/portfolio", tags=["portfolio"])


def exchange_access(
    pool: PoolDep,
    connectors: ConnectorFactoryDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
) -> service.ExchangeAccess:
    return service.ExchangeAccess(
        public=pool.public,
        connectors=connectors,
        keyring=keyring,
        timeout_seconds=settings.portfolio_exchange_timeout_seconds,
    )


AccessDep = Annotated[service.ExchangeAccess, Depends(exchange_access)]


@router.get("", response_model=Portfolio)
async def get_portfolio(user: CurrentUser, session: SessionDep, access: AccessDep) -> Portfolio:
    """Each exchange key and paper account: balances in USDT, P&L, positions, win rate."""
    return await service.portfolio(session, user, access, utcnow())


@router.get("/history", response_model=PortfolioHistory)
async def get_portfolio_history(
    user: CurrentUser,
    session: SessionDep,
    access: AccessDep,
    days: Annotated[int, Query(ge=1, le=history_service.MAX_DAYS)] = 30,
) -> PortfolioHistory:
    """Your results per UTC day: trades, booked P&L, the bots' equity."""
    return await history_service.history(session, user, access, utcnow(), days)
