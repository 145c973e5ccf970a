"""A ccxt exchange class with our hooks: the shared request budget and a trace of each call.

ccxt funnels every REST request through ``throttle(cost)`` then ``fetch(url, ...)`` and hands
every response to ``on_rest_response``. Overriding those three is enough to
- spend the shared budget with ccxt's own per-endpoint weights,
- count the requests that actually left the process (a create that never left is not ambiguous),
- see the HTTP status, Retry-After header and error code that ccxt's exceptions do not carry.
The trace lives in a context variable, so concurrent calls on one instance never mix theirs.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from typing import Any

import ccxt.async_support as ccxt_async

from autogrid.exchanges.budget import RequestBudget
from autogrid.exchanges.ccxt.error_mapping import HttpTrace, parse_error_code, parse_retry_after

current_trace: ContextVar[HttpTrace | None] = ContextVar("autogrid_ccxt_trace", default=None)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name:
            return str(value)
    return None


@cache
def hooked_exchange_class(exchange_id: str) -> type[Any]:
    """``ccxt.async_support.<exchange_id>`` subclassed with the hooks (one class per id)."""
    base: type[Any] = getattr(ccxt_async, exchange_id)

    async def throttle(self: Any, cost: Any = None) -> Any:
        result = await base.throttle(self, cost)
        budget: RequestBudget | None = getattr(self, "autogrid_budget", None)
        if budget is not None:
            await budget.acquire(float(cost) if cost is not None else 1.0)
        return result

    async def fetch(
        self: Any, url: Any, method: Any = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        trace = current_trace.get()
        if trace is not None:
            trace.requests_sent += 1
        return await base.fetch(self, url, method, headers, body)

    def on_rest_response(
        self: Any,
        code: Any,
        reason: Any,
        url: Any,
        method: Any,
        response_headers: Any,
        response_body: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        trace = current_trace.get()
        if trace is not None:
            trace.status = int(code) if code is not None else None
            trace.retry_after = parse_retry_after(_header(response_headers, "retry-after"))
            if trace.status is not None and trace.status >= 400:
                trace.code = parse_error_code(response_body)
        return base.on_rest_response(
            self,
            code,
            reason,
            url,
            method,
            response_headers,
            response_body,
            request_headers,
            request_body,
        )

    return type(
        f"Autogrid_{exchange_id}",
        (base,),
        {"throttle": throttle, "fetch": fetch, "on_rest_response": on_rest_response},
    )
