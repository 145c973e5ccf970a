"""Logs, request ids, Prometheus metrics and health endpoints.

``install_observability`` is called by ``create_app``; because every server worker process builds
its own app, each of them also gets the same logging set-up.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from autogrid.core.config import Settings
from autogrid.core.routes import mount_routes
from autogrid.observability.health import router as ops_router
from autogrid.observability.logs import configure_logging, request_id_context, request_id_var
from autogrid.observability.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from autogrid.observability.redaction import register_secret, scrub, unregister_secret

__all__ = [
    "REQUEST_ID_HEADER",
    "configure_logging",
    "install_observability",
    "register_secret",
    "request_id_context",
    "request_id_var",
    "scrub",
    "unregister_secret",
]


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Configure logging, wrap the app in the request-context layer, add /health /ready /metrics."""
    configure_logging(settings)
    _wrap_outermost(app)
    mount_routes(app.router, ops_router)


def _wrap_outermost(app: FastAPI) -> None:
    # app.add_middleware would place the layer *inside* Starlette's ServerErrorMiddleware, whose
    # 500 responses would then miss the X-Request-ID header and the metrics. Wrapping the built
    # stack puts it around everything; Starlette builds the stack once, on the first request.
    build_stack = app.build_middleware_stack

    def build_wrapped_stack() -> ASGIApp:
        return RequestContextMiddleware(build_stack())

    app.build_middleware_stack = build_wrapped_stack  # type: ignore[method-assign]
