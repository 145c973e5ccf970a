"""HTTP control API under /__sim/: the simulator's control methods, callable from another process.

``POST /__sim/<operation>`` with a JSON object of keyword arguments (or ``GET`` with query
arguments) calls ``BinanceSimulator.<operation>(**arguments)`` and answers ``{"result": ...}``;
a bad call answers 400 ``{"error": ...}``. Only the operations listed here are reachable.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.exchange_sim import errors
from tests.exchange_sim.accounts import Account, Permissions
from tests.exchange_sim.faults import Fault
from tests.exchange_sim.orders import Order, Trade

CONTROL_PREFIX = "/__sim/"

OPERATIONS = frozenset(
    {
        "add_account",
        "set_balances",
        "set_permissions",
        "balances",
        "set_price",
        "price",
        "set_price_path",
        "step_price",
        "set_candles",
        "set_clock_offset",
        "inject_fault",
        "clear_faults",
        "active_faults",
        "orders",
        "trades",
        "fill_order",
        "add_past_trades",
        "request_log",
        "create_request_counts",
        "create_request_count",
        "unhandled_requests",
        "reset",
    }
)


def jsonable(value: Any) -> Any:
    """The JSON form of a control result; Decimals become (exact) strings."""
    if isinstance(value, Order):
        return value.snapshot()
    if isinstance(value, Trade):
        return {**value.to_binance(), "apiKey": value.api_key}
    if isinstance(value, Account):
        return {
            "apiKey": value.api_key,
            "permissions": jsonable(value.permissions),
            "balances": {
                asset: {"free": str(b.free), "locked": str(b.locked)}
                for asset, b in value.balances.items()
            },
        }
    if isinstance(value, Fault | Permissions) or dataclasses.is_dataclass(value):
        return jsonable(dataclasses.asdict(value))  # type: ignore[arg-type]
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"  # "490", not "490.00": comparable as strings
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def register_control_routes(app: web.Application, simulator: Any) -> None:
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"result": {"ok": True, "url": simulator.url}})

    async def dispatch(request: web.Request) -> web.Response:
        operation = request.match_info["operation"]
        if operation not in OPERATIONS:
            return web.json_response({"error": f"unknown operation {operation!r}"}, status=404)
        if request.method == "POST" and request.body_exists:
            arguments = await request.json()
        else:
            arguments = dict(request.query)
        if not isinstance(arguments, dict):
            return web.json_response({"error": "arguments must be a JSON object"}, status=400)
        try:
            result = getattr(simulator, operation)(**arguments)
        except (KeyError, ValueError, TypeError, errors.BinanceError) as error:
            return web.json_response({"error": f"{type(error).__name__}: {error}"}, status=400)
        return web.json_response({"result": jsonable(result)})

    app.router.add_get(CONTROL_PREFIX + "health", health)
    app.router.add_route("GET", CONTROL_PREFIX + "{operation}", dispatch)
    app.router.add_route("POST", CONTROL_PREFIX + "{operation}", dispatch)
