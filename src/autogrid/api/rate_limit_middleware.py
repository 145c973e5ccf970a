"""Every request under /api/ spends one unit of its caller's budget before any route runs.

Allowed answers carry the budget in the IETF draft headers (``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` in seconds, ``RateLimit-Policy``); a refusal is a 429
in the API's one error shape with ``Retry-After``. A WebSocket or an event stream counts once, when
it connects (a refused WebSocket gets the same 429 as its handshake answer). Health, readiness,
metrics and the API docs are outside /api/ and never limited: probes and scrapes must not be
throttled, and the docs are static.

The signal entry (``POST /api/v1/signals/<token>``) is counted by its route instead: a token
that opens a source spends that source's budget (``SIGNAL_RATE_LIMIT``), any other the
anonymous per-address one; which it is takes a database look-up the middleware does not make.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from autogrid.api.rate_limits import ApiRateLimiter, Verdict, create_api_rate_limiter
from autogrid.core.asgi_headers import set_response_headers
from autogrid.core.errors import error_json

LIMITED_PATH_PREFIX = "/api/"
# Where a signed-in caller's denylist entry and epoch, read with the hit, are left for the route.
ACCESS_CHECK_STATE = "access_check"
# The signal entry's path (its token's shape): limited by the route, per source.
SIGNAL_ENTRY_PATH = re.compile(r"/api/v1/signals/ags_[A-Za-z0-9_-]+")
# The IANA close code "Try Again Later", for a server that cannot send a 429 handshake answer.
TRY_AGAIN_LATER = 1013
RATE_LIMIT_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
)


class ApiRateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_limited(scope):
            await self.app(scope, receive, send)
            return
        limiter = _limiter(scope)
        headers = Headers(scope=scope)
        client = scope.get("client")
        caller = limiter.limits.caller(headers.get("authorization"), client[0] if client else None)
        verdict = await limiter.hit(caller)
        if verdict is None:
            await self.app(scope, receive, send)
        elif not verdict.allowed:
            await _refuse(scope, receive, send, verdict)
        else:
            if verdict.access is not None:
                # Read by ``get_current_user`` (``request.state``) instead of asking Redis again.
                scope.setdefault("state", {})[ACCESS_CHECK_STATE] = verdict.access
            await self.app(scope, receive, _with_budget_headers(send, verdict))


def _is_limited(scope: Scope) -> bool:
    if scope["type"] not in ("http", "websocket"):
        return False
    # CORS preflights carry no credentials and do no work; the browser sends the real request.
    if scope["type"] == "http" and scope.get("method") == "OPTIONS":
        return False
    path: str = scope.get("path", "")
    if (
        scope["type"] == "http"
        and scope.get("method") == "POST"
        and SIGNAL_ENTRY_PATH.fullmatch(path)
    ):
        return False
    return path.startswith(LIMITED_PATH_PREFIX)


def _limiter(scope: Scope) -> ApiRateLimiter:
    return api_rate_limiter(scope["app"].state)


def api_rate_limiter(state: Any) -> ApiRateLimiter:
    """The app's limiter; built on first use if the lifespan did not create one."""
    limiter: ApiRateLimiter | None = getattr(state, "api_rate_limiter", None)
    if limiter is None:
        # Must live as long as the app: in process memory, a limiter per request would forget.
        limiter = create_api_rate_limiter(state.settings, getattr(state, "redis", None))
        state.api_rate_limiter = limiter
    return limiter


def budget_headers(verdict: Verdict) -> dict[str, str]:
    values = (
        str(verdict.limit),
        str(verdict.remaining),
        str(verdict.reset_seconds),
        f"{verdict.limit};w={verdict.window_seconds}",
    )
    return dict(zip(RATE_LIMIT_HEADERS, values, strict=True))


def _with_budget_headers(send: Send, verdict: Verdict) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            set_response_headers(message, budget_headers(verdict))
        await send(message)

    return send_with_headers


def rate_limited(connection: HTTPConnection, verdict: Verdict) -> JSONResponse:
    """The 429 of a caller past its budget, in the API's one error shape, with Retry-After."""
    retry_after = max(1, verdict.reset_seconds)
    return error_json(
        connection,
        429,
        "rate_limited",
        f"rate limit of {verdict.limit} requests per {verdict.window_seconds} s reached; "
        f"retry after {retry_after} s",
        {"retry_after": retry_after},
        {**budget_headers(verdict), "Retry-After": str(retry_after)},
    )


async def _refuse(scope: Scope, receive: Receive, send: Send, verdict: Verdict) -> None:
    response = rate_limited(HTTPConnection(scope), verdict)
    if scope["type"] == "http":
        await response(scope, receive, send)
        return
    websocket = WebSocket(scope, receive, send)
    if "websocket.http.response" in scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(TRY_AGAIN_LATER, "rate limited")
