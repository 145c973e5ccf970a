"""The /api/v1 router: every domain's router is mounted here, and only here."""

from __future__ import annotations

from fastapi import APIRouter

from autogrid.admin.router import router as admin_router
from autogrid.auth.router import router as auth_router
from autogrid.backtest.router import router as backtests_router
from autogrid.bots.router import router as bots_router
from autogrid.core.errors import ERROR_RESPONSES
from autogrid.credentials.router import router as credentials_router
from autogrid.events.router import router as events_router
from autogrid.exchanges.router import router as exchanges_router
from autogrid.live.router import router as live_router
from autogrid.notifications.router import router as notifications_router
from autogrid.notifications.telegram.router import router as telegram_router
from autogrid.orders.router import router as orders_router
from autogrid.performance.router import router as performance_router
from autogrid.portfolio.router import router as portfolio_router
from autogrid.risk.router import router as risk_router
from autogrid.signals.router import signals_router, sources_router
from autogrid.smart_trades.router import router as smart_trades_router


def build_api_router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    # Domain routers are imported here so app start-up fails loudly if one is broken.
    # (Each issue adds its domain below, one line each.)
    api.include_router(auth_router)
    api.include_router(admin_router)
    api.include_router(credentials_router)
    api.include_router(bots_router)
    api.include_router(orders_router)
    api.include_router(performance_router)
    api.include_router(risk_router)
    api.include_router(portfolio_router)
    api.include_router(exchanges_router)
    api.include_router(backtests_router)
    api.include_router(events_router)
    api.include_router(notifications_router)
    api.include_router(telegram_router)
    api.include_router(live_router)
    api.include_router(sources_router)
    api.include_router(signals_router)
    api.include_router(smart_trades_router)
    return api
