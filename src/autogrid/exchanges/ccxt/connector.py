"""``ExchangeConnector`` over ccxt's async clients: the one place that calls an exchange for real.

- Every call has a deadline and passes through the shared request budget (see hooks.py).
- Every ccxt exception becomes one of ours (error_mapping.py), scrubbed, raised without the ccxt
  exception chained to it (its text holds the signed URL).
- Reads and cancels are retried on temporary errors (retry.py); a create never is.
- Results are our dataclasses (parsing.py); no ccxt dict or float leaves this package.
- The ccxt client, with our options and quirks, is built in client.py.
"""

from __future__ import annotations

import asyncio
import decimal
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from autogrid.exchanges import errors as ours
from autogrid.exchanges.budget import RequestBudget
from autogrid.exchanges.ccxt import parsing
from autogrid.exchanges.ccxt.capabilities import lists_order_trades
from autogrid.exchanges.ccxt.client import new_client
from autogrid.exchanges.ccxt.error_mapping import (
    HttpTrace,
    Operation,
    is_clock_skew,
    is_rate_limit,
    map_ccxt_error,
)
from autogrid.exchanges.ccxt.hooks import current_trace
from autogrid.exchanges.ccxt.request_values import exact_float, millis, order_reference
from autogrid.exchanges.retry import DEFAULT_RETRY, RetryPolicy, retry_call
from autogrid.exchanges.types import (
    ApiCredentials,
    Balance,
    CandleData,
    ExchangeOrder,
    ExchangeTrade,
    KeyPermissions,
    MarketRules,
    OrderBook,
    OrderRequest,
    Ticker,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

_DEFAULT_OHLCV_PAGE = 500
# How an exchange pages one order's trades past a full page: the parameter taking the (integer)
# trade id to go on from (Binance: ``fromId``, inclusive, allowed together with ``orderId``).
# Without an entry, one page is all there is.
ORDER_TRADES_NEXT_PAGE: dict[str, str] = {"binance": "fromId"}
_ORDER_TRADES_PAGES = 10


class CcxtConnector:
    """One exchange account (or public data only when ``credentials`` is None).

    ``api_urls`` replaces entries of ccxt's ``urls['api']`` (an operator's proxy or mirror, a
    local exchange simulator: ``Settings.exchange_api_urls``); it must never come from user
    input.
    """

    def __init__(
        self,
        exchange_id: str,
        credentials: ApiCredentials | None = None,
        *,
        sandbox: bool = False,
        budget: RequestBudget | None = None,
        timeout_ms: int = 10_000,
        call_timeout_s: float = 60.0,
        retry_policy: RetryPolicy = DEFAULT_RETRY,
        api_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self.sandbox = sandbox
        self._retry = retry_policy
        self._call_timeout = call_timeout_s
        self._secrets = credentials.secrets() if credentials else ()
        self._has_credentials = credentials is not None
        exchange = new_client(
            exchange_id, credentials, sandbox=sandbox, timeout_ms=timeout_ms, api_urls=api_urls
        )
        exchange.autogrid_budget = budget
        self._exchange: Any = exchange
        self._markets: dict[str, MarketRules] | None = None

    def __repr__(self) -> str:
        return f"CcxtConnector({self.exchange_id!r}, sandbox={self.sandbox})"

    # ----------------------------------------------------------------------- plumbing

    async def _call(self, operation: Operation, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """One attempt with a deadline, its HTTP trace, and every failure translated."""
        trace = HttpTrace()
        token = current_trace.set(trace)
        failure: ours.ExchangeError
        try:
            # ccxt rewrites the current decimal context (rounding, traps) when it rounds; a local
            # context keeps that from leaking into the rest of the process (strategies, P&L).
            with decimal.localcontext():
                async with asyncio.timeout(self._call_timeout):
                    return await call()
        except Exception as error:  # every ccxt (and aiohttp, asyncio) error is translated
            failure = map_ccxt_error(
                error,
                operation,
                trace=trace,
                secrets=self._secrets,
                context=f"{self.exchange_id} {what}",
                exchange=self.exchange_id,
            )
            clock_skew = is_clock_skew(error, trace, self.exchange_id)
            rate_limited = is_rate_limit(error, trace) or isinstance(failure, ours.RateLimited)
        finally:
            current_trace.reset(token)
        await self._after_failure(trace, rate_limited=rate_limited, clock_skew=clock_skew)
        # "Not found" is routine while resolving unknown orders; the rest deserves attention.
        level = logging.INFO if isinstance(failure, ours.OrderNotFound) else logging.WARNING
        logger.log(level, "%s", failure)
        raise failure  # outside the except block: the raw ccxt error is not chained

    async def _after_failure(
        self, trace: HttpTrace, *, rate_limited: bool, clock_skew: bool
    ) -> None:
        budget: RequestBudget | None = self._exchange.autogrid_budget
        if rate_limited and budget is not None and trace.requests_sent:
            # The exchange said "slow down" (429/418/-1003, on a read or a create): everyone using
            # this key backs off, not only this call. Our own budget's refusals sent nothing.
            await budget.slow_down(trace.retry_after if trace.retry_after is not None else 2.0)
        if clock_skew:
            await self._resync_clock()

    async def _resync_clock(self) -> None:
        """Binance -1021: measure the server clock once so the retried request is accepted."""
        if not self._exchange.has.get("fetchTime"):
            return
        try:
            with decimal.localcontext():
                await self._exchange.load_time_difference()
        except Exception as error:  # best effort: the retry itself reports what is wrong
            logger.warning("%s clock resync failed: %s", self.exchange_id, type(error).__name__)

    async def _read(
        self, what: str, call: Callable[[], Awaitable[T]], retry: RetryPolicy | None = None
    ) -> T:
        return await retry_call(
            lambda: self._call(Operation.READ, what, call),
            retry or self._retry,
            what=f"{self.exchange_id} {what}",
        )

    # ----------------------------------------------------------------------- market data

    async def load_markets(
        self, *, reload: bool = False, retry: RetryPolicy | None = None
    ) -> dict[str, MarketRules]:
        if self._markets is not None and not reload:
            return self._markets
        raw = await self._read("load_markets", lambda: self._exchange.load_markets(reload), retry)
        mode = self._exchange.precisionMode
        markets: dict[str, MarketRules] = {}
        for symbol, market in raw.items():
            if not market.get("spot"):
                continue
            try:
                markets[symbol] = parsing.parse_market(market, mode)
            except ours.FatalExchangeError as error:  # one odd market must not hide the others
                logger.info("%s: skipping market %s: %s", self.exchange_id, symbol, error)
        self._markets = markets
        return markets

    async def market(self, symbol: str) -> MarketRules:
        markets = await self.load_markets()
        if symbol not in markets:
            raise ours.OrderRejected(f"{self.exchange_id} has no spot market {symbol}")
        return markets[symbol]

    async def fetch_ticker(self, symbol: str) -> Ticker:
        raw = await self._read("fetch_ticker", lambda: self._exchange.fetch_ticker(symbol))
        return parsing.parse_ticker(raw, parsing.from_millis(self._exchange.milliseconds()))

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        raw = await self._read(
            "fetch_order_book", lambda: self._exchange.fetch_order_book(symbol, limit)
        )
        return parsing.parse_order_book(symbol, raw)

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 500
    ) -> list[CandleData]:
        """Up to ``limit`` candles from ``since`` (or the latest ones), paging as needed."""
        exchange = self._exchange
        page_size = int(
            (exchange.features.get("spot") or {}).get("fetchOHLCV", {}).get("limit")
            or _DEFAULT_OHLCV_PAGE
        )
        step_ms = int(exchange.parse_timeframe(timeframe) * 1000)
        start = millis(since)
        if start is None and limit > page_size:
            start = (exchange.milliseconds() // step_ms - limit + 1) * step_ms
        candles: dict[int, CandleData] = {}
        while len(candles) < limit:
            want = min(page_size, limit - len(candles))
            rows = await self._read(
                "fetch_ohlcv", partial(exchange.fetch_ohlcv, symbol, timeframe, start, want)
            )
            fresh = [row for row in rows if start is None or row[0] >= start]
            for row in fresh:
                candles.setdefault(int(row[0]), parsing.parse_candle(row))
            if start is None or len(rows) < want or not fresh:
                break
            start = int(fresh[-1][0]) + step_ms
        return [candles[ts] for ts in sorted(candles)][:limit]

    # ----------------------------------------------------------------------- account

    async def fetch_balance(self) -> dict[str, Balance]:
        raw = await self._read("fetch_balance", lambda: self._exchange.fetch_balance())
        return parsing.parse_balances(raw)

    async def fetch_key_permissions(self) -> KeyPermissions | None:
        """What the key may do, where the exchange tells (Binance, not its testnet); else None."""
        if self.exchange_id != "binance" or self.sandbox or not self._has_credentials:
            return None
        raw = await self._read(
            "fetch_key_permissions", lambda: self._exchange.sapi_get_account_apirestrictions()
        )
        return parsing.parse_binance_api_restrictions(raw)

    # ----------------------------------------------------------------------- orders

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        """Send once. Ambiguity raises OrderOutcomeUnknown. TemporaryExchangeError means the order
        surely does not exist: nothing was sent, or (RequestRefused: RateLimited, ClockSkew) the
        exchange documents the answer as "not executed"; the clock is resynchronised already."""
        await self.market(request.symbol)  # markets loaded first: the create call is one request
        amount = exact_float(request.amount, "amount")
        price = exact_float(request.price, "price") if request.price is not None else None
        params = {"clientOrderId": request.client_order_id}
        raw = await self._call(
            Operation.CREATE,
            f"create_order {request.client_order_id}",
            lambda: self._exchange.create_order(
                request.symbol, request.type.value, request.side.value, amount, price, params
            ),
        )
        try:
            order = parsing.parse_order(raw)
        except ours.FatalExchangeError as error:
            # The exchange accepted *something*: never report that as a failure.
            raise ours.OrderOutcomeUnknown(
                f"{self.exchange_id} create_order {request.client_order_id}: accepted but the "
                f"answer is unreadable ({error})"
            ) from None
        if order.client_order_id is None:
            order = replace(order, client_order_id=request.client_order_id)
        return order

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        """The canceled order, or None when the exchange has no open order by that id.

        Cancels are idempotent, so an ambiguous attempt is retried; if every attempt stays
        ambiguous, OrderOutcomeUnknown is raised (fetch the order to learn its state).
        """
        order_id, params = order_reference(exchange_order_id, client_order_id)

        def attempt() -> Awaitable[Any]:
            return self._call(
                Operation.CANCEL,
                "cancel_order",
                lambda: self._exchange.cancel_order(order_id, symbol, params),
            )

        try:
            raw = await retry_call(
                attempt,
                self._retry,
                retry_on=lambda e: isinstance(
                    e, ours.TemporaryExchangeError | ours.OrderOutcomeUnknown
                ),
                what=f"{self.exchange_id} cancel_order",
            )
        except ours.OrderNotFound:
            return None
        return parsing.parse_order(raw)

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        order_id, params = order_reference(exchange_order_id, client_order_id)
        try:
            raw = await self._read(
                "fetch_order", lambda: self._exchange.fetch_order(order_id, symbol, params)
            )
        except ours.OrderNotFound:
            return None
        return parsing.parse_order(raw)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        raw = await self._read(
            "fetch_open_orders", lambda: self._exchange.fetch_open_orders(symbol)
        )
        return [parsing.parse_order(order) for order in raw]

    async def fetch_my_trades(
        self, symbol: str, since: datetime | None = None, limit: int = 500
    ) -> list[ExchangeTrade]:
        raw = await self._read(
            "fetch_my_trades",
            lambda: self._exchange.fetch_my_trades(symbol, millis(since), limit),
        )
        return [parsing.parse_trade(trade) for trade in raw]

    async def fetch_order_trades(
        self, symbol: str, exchange_order_id: str
    ) -> list[ExchangeTrade] | None:
        if not lists_order_trades(self._exchange.has):
            return None
        exchange = self._exchange
        page_size = (exchange.features.get("spot") or {}).get("fetchMyTrades", {}).get("limit")
        next_param = ORDER_TRADES_NEXT_PAGE.get(self.exchange_id)
        found: dict[str, ExchangeTrade] = {}
        params: dict[str, str] = {}
        for _ in range(_ORDER_TRADES_PAGES):
            raw = await self._read(
                "fetch_order_trades",
                partial(
                    exchange.fetch_order_trades, exchange_order_id, symbol, None, page_size, params
                ),
            )
            page = [parsing.parse_trade(trade) for trade in raw]
            # Only this order's: an exchange that ignored the order id must not pass others' off.
            fresh = [
                t
                for t in page
                if t.exchange_order_id == exchange_order_id and t.trade_id not in found
            ]
            found.update((t.trade_id, t) for t in fresh)
            if next_param is None or page_size is None or len(raw) < page_size or not fresh:
                break
            # ccxt sorts a page by (time, id as a string); these exchanges' ids are integers.
            # Inclusive: the one overlapping trade is deduplicated.
            params = {next_param: str(max(int(t.trade_id) for t in fresh))}
        else:
            logger.warning(
                "%s order %s has more than %d pages of trades: the later ones are not read",
                self.exchange_id,
                exchange_order_id,
                _ORDER_TRADES_PAGES,
            )
        return sorted(found.values(), key=lambda t: (t.ts, t.trade_id))

    async def close(self) -> None:
        await self._exchange.close()
