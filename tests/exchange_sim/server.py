"""BinanceSimulator: the aiohttp server, its request log, and the test-control operations.

Every control operation is a plain method here; the HTTP control API (control.py) calls the same
methods by name, and SimulatorClient (client.py) mirrors them for a simulator in another process.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.exchange_sim import candles as candle_data
from tests.exchange_sim.accounts import Account, Permissions
from tests.exchange_sim.auth import parse_params, strip_signature
from tests.exchange_sim.candles import CandleStore
from tests.exchange_sim.control import CONTROL_PREFIX, register_control_routes
from tests.exchange_sim.faults import Fault, FaultInjector, apply_fault
from tests.exchange_sim.market import DEFAULT_SYMBOLS, SymbolSpec, symbol_id
from tests.exchange_sim.matching import DEFAULT_FEE_RATE, Exchange
from tests.exchange_sim.orders import Order, Trade
from tests.exchange_sim.routes import ExchangeRoutes, error_response
from tests.local_server import bound_port, serve_locally

DEFAULT_API_KEY = "simKey0000000000000000000000000000000000000000000000000000000001"
DEFAULT_SECRET = "simSecret00000000000000000000000000000000000000000000000000000001"
DEFAULT_BALANCES: Mapping[str, str] = {"USDT": "10000", "BTC": "1", "ETH": "10"}
ORDER_PATH = "/api/v3/order"


@dataclass
class RequestRecord:
    """One request to an exchange endpoint, as the simulator received and answered it."""

    seq: int
    time_ms: int
    method: str
    path: str
    params: dict[str, str]  # query + form body, without the signature
    api_key: str | None
    status: int = 0
    code: int | None = None  # Binance error code of the answer, if any
    fault: str | None = None
    handled: bool = True  # False: an endpoint the simulator does not serve


def _decimal(value: Decimal | str | float | int) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class BinanceSimulator:
    """A local Binance spot REST server; ``async with BinanceSimulator() as sim: sim.url``."""

    def __init__(
        self,
        *,
        symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
        host: str = "127.0.0.1",
        port: int = 0,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        default_account: bool = True,
        load_default_candles: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self._symbols = tuple(symbols)
        self._fee_rate = fee_rate
        self._default_account = default_account
        self.clock_offset_ms = 0
        self.candles = CandleStore()
        if load_default_candles and any(s.id == "BTCUSDT" for s in self._symbols):
            self.candles.set_candles("BTCUSDT", "1m", candle_data.load_csv())
        self.faults = FaultInjector()
        self.requests: list[RequestRecord] = []
        self.exchange = self._new_exchange()
        self.routes = ExchangeRoutes(self.exchange, self.candles, self.now_ms)
        self._runner: web.AppRunner | None = None

    def _new_exchange(self) -> Exchange:
        exchange = Exchange(self._symbols, self.now_ms, self._fee_rate)
        if self._default_account:
            account = Account(DEFAULT_API_KEY, DEFAULT_SECRET, created_ms=self.now_ms())
            account.set_balances(DEFAULT_BALANCES)
            exchange.accounts[account.api_key] = account
        return exchange

    # ----- lifecycle -------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.routes.register(app)
        register_control_routes(app, self)
        return app

    async def start(self) -> str:
        self._runner = await serve_locally(self.build_app(), self.host, self.port)
        self.port = bound_port(self._runner)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BinanceSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def now_ms(self) -> int:
        """The exchange clock: wall time shifted by ``set_clock_offset``."""
        return int(time.time() * 1000) + self.clock_offset_ms

    # ----- request pipeline ------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            response: web.StreamResponse = await handler(request)
            return response
        raw_body = await request.text() if request.body_exists else ""
        record = RequestRecord(
            seq=len(self.requests) + 1,
            time_ms=self.now_ms(),
            method=request.method,
            path=request.path,
            params=parse_params(
                strip_signature(request.rel_url.raw_query_string)[0], strip_signature(raw_body)[0]
            ),
            api_key=request.headers.get("X-MBX-APIKEY"),
        )
        self.requests.append(record)
        if request.match_info.http_exception is not None:
            # Never silently accept an endpoint we do not model; tests can assert on this.
            record.handled, record.status = False, 404
            return web.Response(status=404, text="<html><body>Not Found</body></html>")
        fault = self.faults.take(request.method, request.path)
        if fault is None:
            response = await handler(request)
        else:
            record.fault = fault.kind
            response = await apply_fault(fault, request, handler, error_response)
        record.status = response.status
        if response.status >= 400 and isinstance(response, web.Response) and response.body:
            with contextlib.suppress(ValueError, AttributeError):
                record.code = json.loads(bytes(response.body)).get("code")  # type: ignore[arg-type]
        response.headers["x-mbx-used-weight-1m"] = str(len(self.requests))
        return response

    # ----- control: accounts -----------------------------------------------------------------
    def add_account(
        self,
        api_key: str,
        secret: str,
        balances: Mapping[str, Decimal | str | float] | None = None,
        permissions: Mapping[str, object] | None = None,
    ) -> Account:
        account = Account(api_key, secret, created_ms=self.now_ms())
        account.set_balances(balances or {})
        account.permissions.update(permissions or {})
        self.exchange.accounts[api_key] = account
        return account

    def set_balances(self, api_key: str, balances: Mapping[str, Decimal | str | float]) -> Account:
        account = self.exchange.accounts[api_key]
        account.set_balances(balances)
        return account

    def set_permissions(self, api_key: str, **changes: object) -> Permissions:
        account = self.exchange.accounts[api_key]
        account.permissions.update(changes)
        return account.permissions

    def balances(self, api_key: str = DEFAULT_API_KEY) -> dict[str, dict[str, Decimal]]:
        account = self.exchange.accounts[api_key]
        return {a: {"free": b.free, "locked": b.locked} for a, b in account.balances.items()}

    # ----- control: market ---------------------------------------------------------------------
    def set_price(self, symbol: str, price: Decimal | str | float) -> list[Trade]:
        """Move the price; returns the trades of resting orders it filled."""
        return self.exchange.set_price(symbol, _decimal(price))

    def price(self, symbol: str) -> Decimal:
        return self.exchange.prices[self.exchange.spec(symbol).id]

    def set_price_path(self, symbol: str, prices: Iterable[Decimal | str | float]) -> int:
        return self.exchange.set_price_path(symbol, [_decimal(p) for p in prices])

    def step_price(self, symbol: str, steps: int = 1) -> list[Trade]:
        return self.exchange.step_price(symbol, int(steps))

    def set_candles(self, symbol: str, interval: str, candles: Iterable[Sequence[object]]) -> int:
        """Rows of ``[open_time_ms, open, high, low, close, volume]``."""
        return self.candles.set_candles(symbol_id(symbol), interval, candles)

    def set_clock_offset(self, offset_ms: int) -> int:
        """Shift the exchange clock, e.g. -20_000 makes every client timestamp 20 s 'ahead'."""
        self.clock_offset_ms = int(offset_ms)
        return self.clock_offset_ms

    # ----- control: faults -------------------------------------------------------------------
    def inject_fault(
        self, kind: str, endpoint: str = "*", times: int | None = 1, **options: Any
    ) -> Fault:
        """See faults.py for the kinds and their options."""
        return self.faults.add(Fault(kind=kind, endpoint=endpoint, times=times, **options))  # type: ignore[arg-type]

    def clear_faults(self) -> int:
        count = len(self.faults.faults)
        self.faults.clear()
        return count

    def active_faults(self) -> list[Fault]:
        return list(self.faults.faults)

    # ----- control: orders -------------------------------------------------------------------
    def orders(
        self,
        api_key: str | None = None,
        symbol: str | None = None,
        client_order_id: str | None = None,
        status: str | None = None,
    ) -> list[Order]:
        sid = symbol_id(symbol) if symbol else None
        return [
            o
            for o in self.exchange.orders.values()
            if (api_key is None or o.api_key == api_key)
            and (sid is None or o.symbol == sid)
            and (client_order_id is None or o.client_order_id == client_order_id)
            and (status is None or o.status == status)
        ]

    def trades(self, api_key: str | None = None, symbol: str | None = None) -> list[Trade]:
        sid = symbol_id(symbol) if symbol else None
        return [
            t
            for t in self.exchange.trades
            if (api_key is None or t.api_key == api_key) and (sid is None or t.symbol == sid)
        ]

    def fill_order(
        self,
        order_id: int | None = None,
        client_order_id: str | None = None,
        quantity: Decimal | str | float | None = None,
        price: Decimal | str | float | None = None,
    ) -> Trade:
        """Execute ``quantity`` (default: all that remains) of an open order, at its limit price
        unless ``price`` is given. By client id, the newest open order with that id is used."""
        if order_id is not None:
            order = self.exchange.orders[int(order_id)]
        else:
            candidates = [o for o in self.orders(client_order_id=client_order_id) if o.is_open]
            if not candidates:
                raise KeyError(f"no open order with client id {client_order_id!r}")
            order = candidates[-1]
        return self.exchange.fill_order(
            order,
            None if quantity is None else _decimal(quantity),
            None if price is None else _decimal(price),
        )

    def add_past_trades(
        self,
        count: int,
        symbol: str = "BTC/USDT",
        api_key: str = DEFAULT_API_KEY,
        per_order: int = 1,
        qty: Decimal | str | float = "0.001",
        spread_ms: int = 0,
    ) -> int:
        """``count`` trades of other (filled) orders of the account, in one call: a busy key's
        history, over the last ``spread_ms`` up to now. Balances are untouched. Returns how many
        orders they belong to."""
        account = self.exchange.accounts[api_key]
        return self.exchange.add_past_trades(
            account, symbol, int(count), int(per_order), _decimal(qty), int(spread_ms)
        )

    # ----- control: inspection ---------------------------------------------------------------
    def request_log(
        self, method: str | None = None, path: str | None = None
    ) -> list[RequestRecord]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or r.path == path)
        ]

    def create_request_counts(self) -> dict[str, int]:
        """How many order-create requests arrived per newClientOrderId (whatever the answer)."""
        return dict(
            Counter(
                r.params["newClientOrderId"]
                for r in self.request_log("POST", ORDER_PATH)
                if "newClientOrderId" in r.params
            )
        )

    def create_request_count(self, client_order_id: str) -> int:
        return self.create_request_counts().get(client_order_id, 0)

    def unhandled_requests(self) -> list[RequestRecord]:
        return [r for r in self.requests if not r.handled]

    def reset(self) -> None:
        """Back to the initial state (orders, trades, accounts, prices, faults, log, clock);
        loaded candles are kept. Lets one long-lived simulator process serve many tests."""
        self.exchange = self._new_exchange()
        self.routes.exchange = self.exchange
        self.faults.clear()
        self.requests.clear()
        self.clock_offset_ms = 0
