"""Faults injected on demand, per endpoint, for the next N matching requests.

Each kind reproduces a failure Binance really produces and that a client must survive:

- ``delay``: the answer arrives after ``seconds`` (longer than the client timeout -> ccxt
  RequestTimeout). The request IS executed: by default first (the order exists while the client
  times out); with ``delay_before_execute`` only after the delay (the order is "not found" for a
  while, then appears: Binance's eventual consistency).
- ``accepted_response_lost``: the request is executed (an order is created and matched), then the
  connection is dropped without an answer (``lost_as="disconnect"``) or a bodiless 504 is sent
  (``lost_as="504"``).
- ``http_error``: a bare 5xx (``status``, optional ``body``); with ``execute=True`` the request is
  performed anyway, which Binance documents as possible ("do NOT treat this as a failure").
- ``rate_limit``: 429 + Retry-After, code -1003. ``ip_ban``: 418 + Retry-After, code -1003.
- ``timestamp``: 400 with code -1021, as when the client clock drifts.
- ``binance_error``: any Binance error answer, ``status`` with ``{"code": code, "msg": msg}``
  (e.g. 429/-1015 too many orders, 400/-2010 insufficient balance, 400/-1007 execution status
  unknown); not executed unless ``execute=True``. A Retry-After header of ``retry_after`` seconds
  is sent unless it is 0.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from aiohttp import web

from tests.exchange_sim import errors

FaultKind = Literal[
    "delay",
    "accepted_response_lost",
    "http_error",
    "rate_limit",
    "ip_ban",
    "timestamp",
    "binance_error",
]
FAULT_KINDS: frozenset[str] = frozenset(
    {
        "delay",
        "accepted_response_lost",
        "http_error",
        "rate_limit",
        "ip_ban",
        "timestamp",
        "binance_error",
    }
)
# Faults that Binance applies after doing the work, so the state changes anyway.
_EXECUTES_BY_DEFAULT = frozenset({"delay", "accepted_response_lost"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorResponder = Callable[[errors.BinanceError, Mapping[str, str]], web.Response]

_fault_ids = itertools.count(1)


@dataclass
class Fault:
    kind: FaultKind
    # "*" (any exchange endpoint), "/api/v3/order" (any method) or "POST /api/v3/order".
    endpoint: str = "*"
    # How many matching requests to affect; None keeps the fault until it is cleared.
    times: int | None = 1
    seconds: float = 0.0
    delay_before_execute: bool = False
    execute: bool | None = None
    status: int = 503
    body: str = ""
    retry_after: int = 1
    code: int = -1000
    msg: str = "An unknown error occurred while processing the request."
    lost_as: Literal["disconnect", "504"] = "disconnect"
    fault_id: int = field(default_factory=lambda: next(_fault_ids))
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.lost_as not in ("disconnect", "504"):
            raise ValueError("lost_as must be 'disconnect' or '504'")
        if self.execute is None:
            self.execute = self.kind in _EXECUTES_BY_DEFAULT

    def matches(self, method: str, path: str) -> bool:
        if self.endpoint == "*":
            return True
        want_method, _, want_path = self.endpoint.rpartition(" ")
        return want_path == path and (not want_method or want_method.upper() == method)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class FaultInjector:
    """The active faults; the first one matching a request is consumed by it."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if not fault.exhausted and fault.matches(method, path):
                fault.hits += 1
                if fault.exhausted:
                    self.faults.remove(fault)
                return fault
        return None


async def apply_fault(
    fault: Fault, request: web.Request, handler: Handler, error_response: ErrorResponder
) -> web.StreamResponse:
    """Answer ``request`` as ``fault`` dictates, running ``handler`` when the fault executes."""
    if fault.kind == "rate_limit":
        return error_response(errors.too_many_requests(), {"Retry-After": str(fault.retry_after)})
    if fault.kind == "ip_ban":
        ban_until = int((asyncio.get_running_loop().time() + fault.retry_after) * 1000)
        return error_response(errors.ip_banned(ban_until), {"Retry-After": str(fault.retry_after)})
    if fault.kind == "timestamp":
        return error_response(errors.timestamp_outside_recv_window(), {})
    if fault.kind == "binance_error":
        if fault.execute:
            await handler(request)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after > 0 else {}
        return error_response(errors.BinanceError(fault.code, fault.msg, fault.status), headers)
    if fault.kind == "delay":
        if fault.delay_before_execute:
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        response = await handler(request)
        await asyncio.sleep(fault.seconds)
        return response
    if fault.execute:
        await handler(request)
    if fault.kind == "http_error":
        return web.Response(status=fault.status, text=fault.body, content_type="text/html")
    # accepted_response_lost
    if fault.lost_as == "504":
        return web.Response(status=504)
    if request.transport is not None:
        # abort() resets the TCP connection: the client sees "Server disconnected".
        request.transport.abort()
    return web.Response(status=204)
