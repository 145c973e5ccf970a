"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from autogrid import __version__
from autogrid.api import param_analysis
from autogrid.api.openapi_links import add_links
from autogrid.api.openapi_params import drop_null_branches
from autogrid.api.rate_limit_middleware import RATE_LIMIT_HEADERS, ApiRateLimitMiddleware
from autogrid.api.rate_limits import create_api_rate_limiter
from autogrid.api.router import in_documented_order, mount_api
from autogrid.auth.denylist import create_access_denylist
from autogrid.auth.login_guard import LoginGuard, create_login_memory
from autogrid.auth.user_cache import AuthUserCache
from autogrid.core.config import Settings, get_settings
from autogrid.core.db import Database
from autogrid.core.errors import install_error_handlers
from autogrid.core.heap import freeze_startup_heap
from autogrid.core.ratelimit import create_rate_limiter
from autogrid.core.redis import create_redis
from autogrid.core.request_guard import RequestGuardMiddleware
from autogrid.exchanges.budget import create_budgets
from autogrid.exchanges.market_data_cache import create_market_data_cache
from autogrid.exchanges.pool import ConnectorPool, configured_ccxt_factory
from autogrid.exchanges.rules_provider import exchange_market_rules
from autogrid.live.runtime import start_live_events
from autogrid.observability import install_observability
from autogrid.scheduling.dispatcher import CeleryBotDispatcher
from autogrid.signals.dispatch import CelerySignalDispatcher
from autogrid.signals.paths import is_signal_entry, signal_body_limits

OPENAPI_TAGS = [
    {"name": "auth", "description": "Register, log in, rotate and revoke tokens."},
    {"name": "admin", "description": "User administration (admin role only)."},
    {"name": "credentials", "description": "Exchange API keys (verified, encrypted at rest)."},
    {
        "name": "exchanges",
        "description": "Exchange catalog (public), markets, tickers and candles (cached, stored).",
    },
    {"name": "bots", "description": "Grid, DCA and indicator bots: configure, start, stop, watch."},
    {"name": "orders", "description": "A bot's orders, trades (CSV too) and their history."},
    {
        "name": "backtests",
        "description": "Backtest bot configs on stored candles; HTML reports; parameter sweeps.",
    },
    {
        "name": "notifications",
        "description": "Where your events are sent (signed webhooks), what each channel receives.",
    },
    {
        "name": "signals",
        "description": "Trading signals from outside (TradingView alerts...): sources, fates.",
    },
    {"name": "ops", "description": "Liveness, readiness and Prometheus metrics."},
]

DOCS_STATIC_URL = "/static/docs"


def create_app(
    settings: Settings | None = None, *, freeze_heap_after_startup: bool = False
) -> FastAPI:
    """``freeze_heap_after_startup`` is for the served process only (see ``core.heap``): a test
    process starts many apps, and freezing each time would keep its garbage for good."""
    settings = settings or get_settings()
    # FastAPI's per-request analysis of each declared parameter, worked out once instead.
    param_analysis.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher = _open_resources(app, settings)
        if freeze_heap_after_startup:
            freeze_startup_heap()
        try:
            yield
        finally:
            await _close_resources(app, dispatcher)

    # /docs and /redoc load Swagger UI and ReDoc from the installed package, not from a CDN, so
    # they work offline; the online spec validator is off for the same reason.
    app = FastAPIOffline(
        title="AutoGrid",
        version=__version__,
        summary="Multi-user backend for automated crypto trading bots.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        static_url=DOCS_STATIC_URL,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_observability(app, settings)
    _install_middleware(app, settings)
    mount_api(app.router)
    _summaries_from_docstrings(app)
    return app


def _summaries_from_docstrings(app: FastAPI) -> None:
    """Use each operation's one-line docstring as its OpenAPI summary (Swagger's list shows it),
    add the links from each create operation to the operations on what it created, and drop the
    null branch of optional query and header parameters (``api.openapi_params``)."""
    generate = app.openapi

    def openapi_with_summaries() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"] = in_documented_order(schema.get("paths", {}))
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    description = operation.get("description")
                    if isinstance(description, str) and description.strip():
                        operation["summary"] = description.strip().splitlines()[0].rstrip(".")
            add_links(schema)
            drop_null_branches(schema)
        return app.openapi_schema or generate()

    app.openapi = openapi_with_summaries  # type: ignore[method-assign]


def _open_resources(app: FastAPI, settings: Settings) -> CeleryBotDispatcher:
    """The process-wide clients the routes reach through ``app.state``; returns the dispatcher
    it made, which shutdown closes even if a test swapped ``app.state.bot_dispatcher``."""
    app.state.db = Database.from_settings(settings)
    app.state.redis = create_redis(settings)
    app.state.rate_limiter = create_rate_limiter(settings, app.state.redis)
    app.state.api_rate_limiter = create_api_rate_limiter(settings, app.state.redis)
    app.state.access_denylist = create_access_denylist(settings, app.state.redis)
    # The signed-in users' rows this process keeps, trusted under their auth epochs.
    app.state.auth_user_cache = AuthUserCache()
    app.state.login_guard = LoginGuard(
        settings, app.state.rate_limiter, create_login_memory(settings, app.state.redis)
    )
    # One request budget per exchange key, shared by every process through Redis.
    budgets = create_budgets(app.state.redis, settings.redis_key_prefix)
    app.state.connector_factory = configured_ccxt_factory(budgets, settings)
    app.state.connector_pool = ConnectorPool(app.state.connector_factory)
    app.state.market_data_cache = create_market_data_cache(settings, app.state.redis)
    app.state.market_rules_provider = exchange_market_rules(
        app.state.connector_pool, app.state.market_data_cache
    )
    # Lifecycle commands reach the bot runtime as Celery tasks, sent after commit.
    dispatcher = CeleryBotDispatcher(settings=settings)
    app.state.bot_dispatcher = dispatcher
    app.state.signal_dispatcher = CelerySignalDispatcher(dispatcher.celery_app)
    app.state.live_events = start_live_events(settings, app.state.db, app.state.redis)
    return dispatcher


async def _close_resources(app: FastAPI, dispatcher: CeleryBotDispatcher) -> None:
    await app.state.live_events.stop()
    dispatcher.close()
    await app.state.connector_pool.close_all()
    app.state.auth_user_cache.close()
    if app.state.redis is not None:
        await app.state.redis.aclose()
    await app.state.db.dispose()


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    # Inside CORS, so a refusal still carries the CORS headers a browser needs to read it.
    app.add_middleware(
        RequestGuardMiddleware,
        max_body_bytes=settings.max_request_body_bytes,
        larger_limits=signal_body_limits(
            settings.signal_max_body_bytes, settings.max_request_body_bytes
        ),
        raw_body=is_signal_entry,
    )
    # Outside the input guard: a caller over budget is refused before its body is read.
    app.add_middleware(ApiRateLimitMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", *RATE_LIMIT_HEADERS],
        )
