"""The /api/v1 router: every domain's router is mounted here, and only here."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter
from starlette.routing import BaseRoute

from autogrid.admin.router import router as admin_router
from autogrid.auth.router import router as auth_router
from autogrid.backtest.router import router as backtests_router
from autogrid.bots.router import router as bots_router
from autogrid.core.errors import ERROR_RESPONSES
from autogrid.core.routes import mount_routes
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

API_PREFIX = "/api/v1"

# The order the API documents its domains in (OpenAPI's paths, Swagger's list).
# (Each issue adds its domain below, one line each.)
DOCUMENTED_ORDER: tuple[APIRouter, ...] = (
    auth_router,
    admin_router,
    credentials_router,
    bots_router,
    orders_router,
    performance_router,
    risk_router,
    portfolio_router,
    exchanges_router,
    backtests_router,
    events_router,
    notifications_router,
    telegram_router,
    live_router,
    sources_router,
    signals_router,
    smart_trades_router,
)

# The order a request is matched in: FastAPI tries the routes one by one, each by its regular
# expression (about 5 Python calls a route passed over), so the hot reads come first: a bot's
# orders (4 routes), then the bots (the list and the detail are their 2nd and 3rd), then sign-in
# (/auth/me is cheap already). Their paths (/bots, /orders, /auth) are matched by no router they
# now precede, so every request reaches the same route as in the documented order.
_MATCHED_FIRST: tuple[APIRouter, ...] = (orders_router, bots_router, auth_router)
MATCHING_ORDER: tuple[APIRouter, ...] = _MATCHED_FIRST + tuple(
    router for router in DOCUMENTED_ORDER if router not in _MATCHED_FIRST
)


def mount_api(target: APIRouter) -> None:
    """Every domain's routes under /api/v1, in the matching order, as routes of ``target``,
    ahead of those it has (the docs' and the probes', none of them under /api/: each API
    request passed over all of them first)."""
    target.routes[:0] = _api_routes()


@functools.cache
def _api_routes() -> tuple[BaseRoute, ...]:
    """The API's routes, built once per process and shared by every app it makes (a test run
    makes thousands; building them costs a third of a second). A route holds nothing of its
    app, save the app's ``dependency_overrides``, which these routes therefore do not consult:
    swap a dependency through ``app.state`` (as ``bots.dependencies`` does) instead."""
    api = APIRouter()
    for router in MATCHING_ORDER:
        mount_routes(api, router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    return tuple(api.routes)


def in_documented_order(paths: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI's paths as the documented order lists the domains (the matching order differs);
    paths outside /api/v1 keep their place ahead of them."""
    rank: dict[str, int] = {}
    for number, router in enumerate(DOCUMENTED_ORDER):
        for route in router.routes:
            path = getattr(route, "path_format", None)
            if isinstance(path, str):
                rank.setdefault(API_PREFIX + path, number)
    places = {path: place for place, path in enumerate(paths)}
    ordered = sorted(paths, key=lambda path: (rank.get(path, -1), places[path]))
    return {path: paths[path] for path in ordered}
