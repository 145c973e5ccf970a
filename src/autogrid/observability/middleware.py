"""The outermost ASGI layer: request id, access log line and HTTP metrics for every request.

It wraps the whole application, including Starlette's ServerErrorMiddleware, so that 500s
rendered by the catch-all handler, 404s for unknown routes and CORS preflights all carry the
X-Request-ID header and are counted. It is a pure ASGI middleware (no BaseHTTPMiddleware): it does
not buffer bodies, and the contextvar it sets is visible to the endpoint and its dependencies.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autogrid.core.asgi_headers import set_response_headers
from autogrid.observability.logs import request_id_var
from autogrid.observability.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED_ROUTE = "<unmatched>"
OTHER_METHOD = "OTHER"
CLIENT_CLOSED_REQUEST = 499

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Anything else becomes OTHER: a client inventing methods must not invent metric series.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes hit these every few seconds; their successes are logged at DEBUG only.
_QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})

access_logger = logging.getLogger("autogrid.access")

# The metrics' children by (method, route, status): ``labels()`` looks its child up anew at each
# call (label validation, string conversions, a lock), about a tenth of a request's recording.
# The labels are bounded (known methods, route templates, status codes); the bound is a guard.
_MAX_CHILDREN = 2048
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _metric_children(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request counter's and the duration histogram's children for these labels."""
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        if len(_children) >= _MAX_CHILDREN:
            _children.clear()
        children = (
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)),
            HTTP_REQUEST_DURATION.labels(method=method, route=route),
        )
        _children[key] = children
    return children


def incoming_or_new_request_id(raw: bytes | None) -> str:
    """Keep a caller's id if it is a sane token (so traces join up), else make a fresh one."""
    if raw is not None:
        candidate = raw.decode("latin-1")
        if _SANE_REQUEST_ID.fullmatch(candidate):
            return candidate
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (/api/v1/bots/{bot_id}), never the raw path."""
    # FastAPI records the route as seen through every include_router prefix here; the route
    # object in scope["route"] only knows its path inside its own router.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        context = fastapi_scope.get("effective_route_context")
        path = getattr(context, "path_format", None)
        if isinstance(path, str):
            return path
    path = getattr(scope.get("route"), "path_format", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def method_label(method: str) -> str:
    return method if method in _KNOWN_METHODS else OTHER_METHOD


def _header(scope: Scope, name: bytes) -> bytes | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = incoming_or_new_request_id(_header(scope, b"x-request-id"))
        # request.state reads scope["state"]; the error handlers take the id from there.
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "http":
                await self._serve_http(scope, receive, send, request_id)
            else:
                await self.app(scope, receive, send)
        finally:
            request_id_var.reset(token)

    async def _serve_http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        status: int | None = None
        completed = False
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, completed
            if message["type"] == "http.response.start":
                status = int(message["status"])
                set_response_headers(message, {REQUEST_ID_HEADER: request_id})
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                completed = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except asyncio.CancelledError:
            # The client went away (or the server is stopping): nginx's 499, not a server error.
            status = status or CLIENT_CLOSED_REQUEST
            raise
        except Exception:
            if status is None or status < 500 or not completed:
                status = status or 500
                raise
            # The catch-all handler already logged the exception and sent a complete 500;
            # re-raising would only make the server log the same traceback a second time.
        finally:
            self._record(scope, status or 500, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method = method_label(str(scope.get("method", "")))
        route = route_template(scope)
        requests, durations = _metric_children(method, route, status)
        requests.inc()
        durations.observe(seconds)
        duration_ms = round(seconds * 1000, 2)
        level = logging.WARNING if status >= 500 else logging.INFO
        if route in _QUIET_ROUTES and status < 400:
            level = logging.DEBUG
        # Only the route template: raw paths and query strings can carry tokens and signatures.
        extra: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
        }
        access_logger.log(level, "%s %s %s %.1fms", method, route, status, duration_ms, extra=extra)
