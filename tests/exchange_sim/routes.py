"""The Binance spot REST endpoints ccxt's binance class uses, as aiohttp handlers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal

from aiohttp import web

from tests.exchange_sim import errors, history
from tests.exchange_sim.auth import Security, SignedRequest, authenticate
from tests.exchange_sim.candles import CandleStore
from tests.exchange_sim.market import SymbolSpec, fmt
from tests.exchange_sim.matching import Exchange

DEPTH_DEFAULT_LIMIT = 100
DEPTH_MAX_LIMIT = 5000
# Synthetic book: this many base units at every tick away from the price.
DEPTH_LEVEL_QTY = Decimal("1.5")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: errors.BinanceError, headers: Mapping[str, str]) -> web.Response:
    return web.json_response(error.body(), status=error.http_status, headers=dict(headers))


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.illegal_value(name) from None


class ExchangeRoutes:
    """Handlers bound to one simulator's state; every BinanceError becomes Binance's answer."""

    def __init__(self, exchange: Exchange, candles: CandleStore, now_ms: Callable[[], int]):
        self.exchange = exchange
        self.candles = candles
        self.now_ms = now_ms

    def register(self, app: web.Application) -> None:
        public: dict[str, Callable[[Mapping[str, str]], object]] = {
            "/api/v3/ping": lambda _: {},
            "/api/v3/time": lambda _: {"serverTime": self.now_ms()},
            "/api/v3/exchangeInfo": self.exchange_info,
            "/api/v3/depth": self.depth,
            "/api/v3/klines": self.klines,
            "/api/v3/uiKlines": self.klines,
            "/api/v3/ticker/24hr": self.ticker_24hr,
            "/api/v3/ticker": self.ticker_24hr,
            "/api/v3/ticker/price": self.ticker_price,
            "/api/v3/ticker/bookTicker": self.book_ticker,
            "/api/v3/avgPrice": self.avg_price,
        }
        for path, view in public.items():
            app.router.add_get(path, self._public(view))
        signed: list[tuple[str, str, Security, Callable[[SignedRequest], object]]] = [
            ("GET", "/api/v3/account", Security.USER_DATA, self.account),
            ("POST", "/api/v3/order", Security.TRADE, self.create_order),
            ("GET", "/api/v3/order", Security.USER_DATA, self.query_order),
            ("DELETE", "/api/v3/order", Security.TRADE, self.cancel_order),
            ("GET", "/api/v3/openOrders", Security.USER_DATA, self.open_orders),
            ("DELETE", "/api/v3/openOrders", Security.TRADE, self.cancel_open_orders),
            ("GET", "/api/v3/allOrders", Security.USER_DATA, self.all_orders),
            ("GET", "/api/v3/myTrades", Security.USER_DATA, self.my_trades),
            ("GET", "/sapi/v1/account/apiRestrictions", Security.USER_DATA, self.restrictions),
        ]
        for method, path, security, signed_view in signed:
            app.router.add_route(method, path, self._signed(security, signed_view))

    # ----- wrappers --------------------------------------------------------------------------
    def _public(self, view: Callable[[Mapping[str, str]], object]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                return web.json_response(view(request.query))
            except errors.BinanceError as error:
                return error_response(error, {})

        return handle

    def _signed(self, security: Security, view: Callable[[SignedRequest], object]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw_body = await request.text() if request.body_exists else ""
            try:
                signed = authenticate(
                    self.exchange.accounts,
                    request.headers.get("X-MBX-APIKEY"),
                    request.remote,
                    request.rel_url.raw_query_string,
                    raw_body,
                    self.now_ms(),
                    security,
                )
                return web.json_response(view(signed))
            except errors.BinanceError as error:
                return error_response(error, {})

        return handle

    # ----- market data -----------------------------------------------------------------------
    def _specs(self, params: Mapping[str, str]) -> list[SymbolSpec]:
        if params.get("symbol"):
            return [self.exchange.spec(params["symbol"])]
        if params.get("symbols"):
            try:
                wanted = json.loads(params["symbols"])
            except ValueError:
                raise errors.illegal_value("symbols") from None
            return [self.exchange.spec(s) for s in wanted]
        return list(self.exchange.specs.values())

    def exchange_info(self, params: Mapping[str, str]) -> object:
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            ],
            "exchangeFilters": [],
            "symbols": [spec.exchange_info() for spec in self._specs(params)],
        }

    def _book_sides(self, spec: SymbolSpec, levels: int) -> tuple[list[list[str]], list[list[str]]]:
        price = self.exchange.prices[spec.id]
        bids = [
            [fmt(price - k * spec.tick_size), fmt(DEPTH_LEVEL_QTY)]
            for k in range(1, levels + 1)
            if price - k * spec.tick_size > 0
        ]
        asks = [
            [fmt(price + k * spec.tick_size), fmt(DEPTH_LEVEL_QTY)] for k in range(1, levels + 1)
        ]
        return bids, asks

    def depth(self, params: Mapping[str, str]) -> object:
        spec = self.exchange.spec(params.get("symbol"))
        limit = _int(params, "limit") or DEPTH_DEFAULT_LIMIT
        bids, asks = self._book_sides(spec, max(1, min(limit, DEPTH_MAX_LIMIT)))
        return {"lastUpdateId": self.now_ms(), "bids": bids, "asks": asks}

    def klines(self, params: Mapping[str, str]) -> object:
        spec = self.exchange.spec(params.get("symbol"))
        interval = params.get("interval")
        if not interval:
            raise errors.mandatory("interval")
        return self.candles.klines(
            spec.id,
            interval,
            _int(params, "startTime"),
            _int(params, "endTime"),
            _int(params, "limit"),
        )

    def _ticker(self, spec: SymbolSpec) -> dict[str, object]:
        price = self.exchange.prices[spec.id]
        stats = self.exchange.stats[spec.id]
        now = self.now_ms()
        change = price - stats.open
        trades = [t for t in self.exchange.trades if t.symbol == spec.id]
        return {
            "symbol": spec.id,
            "priceChange": fmt(change),
            "priceChangePercent": f"{change / stats.open * 100:.3f}",
            "weightedAvgPrice": fmt(stats.quote_volume / stats.volume if stats.volume else price),
            "prevClosePrice": fmt(stats.open),
            "lastPrice": fmt(price),
            "lastQty": fmt(trades[-1].qty if trades else Decimal(0)),
            "bidPrice": fmt(price - spec.tick_size),
            "bidQty": fmt(DEPTH_LEVEL_QTY),
            "askPrice": fmt(price + spec.tick_size),
            "askQty": fmt(DEPTH_LEVEL_QTY),
            "openPrice": fmt(stats.open),
            "highPrice": fmt(stats.high),
            "lowPrice": fmt(stats.low),
            "volume": fmt(stats.volume),
            "quoteVolume": fmt(stats.quote_volume),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": trades[0].trade_id if trades else -1,
            "lastId": trades[-1].trade_id if trades else -1,
            "count": stats.count,
        }

    def ticker_24hr(self, params: Mapping[str, str]) -> object:
        tickers = [self._ticker(spec) for spec in self._specs(params)]
        return tickers[0] if params.get("symbol") else tickers

    def ticker_price(self, params: Mapping[str, str]) -> object:
        rows = [
            {"symbol": s.id, "price": fmt(self.exchange.prices[s.id])} for s in self._specs(params)
        ]
        return rows[0] if params.get("symbol") else rows

    def book_ticker(self, params: Mapping[str, str]) -> object:
        rows = []
        for spec in self._specs(params):
            ticker = self._ticker(spec)
            rows.append(
                {k: ticker[k] for k in ("symbol", "bidPrice", "bidQty", "askPrice", "askQty")}
            )
        return rows[0] if params.get("symbol") else rows

    def avg_price(self, params: Mapping[str, str]) -> object:
        spec = self.exchange.spec(params.get("symbol"))
        price = fmt(self.exchange.prices[spec.id])
        return {"mins": 5, "price": price, "closeTime": self.now_ms()}

    # ----- account and orders ----------------------------------------------------------------
    def account(self, signed: SignedRequest) -> object:
        omit_zero = signed.params.get("omitZeroBalances", "false").lower() == "true"
        return signed.account.account_json(self.now_ms(), omit_zero)

    def restrictions(self, signed: SignedRequest) -> object:
        return signed.account.restrictions_json()

    def create_order(self, signed: SignedRequest) -> object:
        order = self.exchange.place_order(signed.account, signed.params)
        # Binance's default response type is FULL for MARKET and LIMIT orders.
        resp_type = signed.params.get("newOrderRespType", "FULL").upper()
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise errors.BinanceError(
                -1100, "Illegal characters found in parameter 'newOrderRespType'."
            )
        return order.to_create_response(resp_type)

    def query_order(self, signed: SignedRequest) -> object:
        params = signed.params
        spec = self.exchange.spec(params.get("symbol"))
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise errors.BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        order = self.exchange.find_order(signed.account, spec.id, order_id, client_id)
        if order is None:
            raise errors.order_does_not_exist()
        return order.to_binance()

    def cancel_order(self, signed: SignedRequest) -> object:
        params = signed.params
        order = self.exchange.cancel_order(
            signed.account,
            params.get("symbol"),
            params.get("orderId"),
            params.get("origClientOrderId"),
        )
        cancel_id = params.get("newClientOrderId") or f"cancel{order.order_id}x{self.now_ms()}"
        return order.to_cancel_response(cancel_id, self.now_ms())

    def cancel_open_orders(self, signed: SignedRequest) -> object:
        spec = self.exchange.spec(signed.params.get("symbol"))
        canceled = [
            self.exchange.cancel_order(signed.account, spec.id, str(order.order_id), None)
            for order in self.exchange.open_orders(signed.account, spec.id)
        ]
        now = self.now_ms()
        return [o.to_cancel_response(f"cancel{o.order_id}x{now}", now) for o in canceled]

    def open_orders(self, signed: SignedRequest) -> object:
        orders = self.exchange.open_orders(signed.account, signed.params.get("symbol"))
        return [o.to_binance() for o in orders]

    def all_orders(self, signed: SignedRequest) -> object:
        spec = self.exchange.spec(signed.params.get("symbol"))
        orders = self.exchange.orders_of(signed.account, spec.id)
        return [o.to_binance() for o in history.all_orders(orders, signed.params)]

    def my_trades(self, signed: SignedRequest) -> object:
        spec = self.exchange.spec(signed.params.get("symbol"))
        trades = [
            t
            for t in self.exchange.trades
            if t.api_key == signed.account.api_key and t.symbol == spec.id
        ]
        return [t.to_binance() for t in history.my_trades(trades, signed.params)]
