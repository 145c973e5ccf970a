"""An ``ExchangeConnector`` wrapper that times every call, counts errors by class, and keeps the
run of successes and failures the circuit breaker's "consecutive errors" limit looks at.

Which failures count for the breaker: the exchange (or our link to it) misbehaving, i.e. temporary
errors, ambiguous outcomes, refused keys and fatal errors. A definitive answer about an order
(rejected, not found) or our own pre-flight refusal is the exchange working as it should.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from autogrid.exchanges import errors
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.retry import RetryPolicy
from autogrid.exchanges.types import (
    Balance,
    CandleData,
    ExchangeOrder,
    ExchangeTrade,
    MarketRules,
    OrderBook,
    OrderRequest,
    Ticker,
)
from autogrid.observability.metrics import EXCHANGE_CALL_SECONDS, EXCHANGE_ERRORS

T = TypeVar("T")

_BREAKER_ERRORS = (
    errors.TemporaryExchangeError,
    errors.OrderOutcomeUnknown,
    errors.AuthenticationFailed,
    errors.FatalExchangeError,
)


class InstrumentedConnector:
    def __init__(self, inner: ExchangeConnector, label: str | None = None) -> None:
        self.inner = inner
        self.exchange_id = inner.exchange_id
        # The metrics label: "binance" or "paper:binance" (low cardinality, never an id).
        self.label = label or inner.exchange_id
        # None for a call that worked, the error class name for one that failed (breaker input).
        self.calls: list[str | None] = []

    def take_calls(self) -> list[str | None]:
        taken, self.calls = self.calls, []
        return taken

    async def _call(
        self, method: str, call: Callable[[], Awaitable[T]], *, success_counts: bool = True
    ) -> T:
        started = time.perf_counter()
        try:
            result = await call()
        except errors.ExchangeError as error:
            EXCHANGE_ERRORS.labels(self.label, type(error).__name__).inc()
            if isinstance(error, _BREAKER_ERRORS):
                self.calls.append(type(error).__name__)
            raise
        finally:
            EXCHANGE_CALL_SECONDS.labels(self.label, method).observe(time.perf_counter() - started)
        if success_counts:
            self.calls.append(None)
        return result

    async def load_markets(
        self, *, reload: bool = False, retry: RetryPolicy | None = None
    ) -> dict[str, MarketRules]:
        # Usually answered from the connector's cache: no proof the exchange is healthy.
        return await self._call(
            "load_markets",
            lambda: self.inner.load_markets(reload=reload, retry=retry),
            success_counts=False,
        )

    async def market(self, symbol: str) -> MarketRules:
        return await self._call("market", lambda: self.inner.market(symbol), success_counts=False)

    async def fetch_ticker(self, symbol: str) -> Ticker:
        return await self._call("fetch_ticker", lambda: self.inner.fetch_ticker(symbol))

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        return await self._call(
            "fetch_order_book", lambda: self.inner.fetch_order_book(symbol, limit)
        )

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 500
    ) -> list[CandleData]:
        return await self._call(
            "fetch_ohlcv", lambda: self.inner.fetch_ohlcv(symbol, timeframe, since, limit)
        )

    async def fetch_balance(self) -> dict[str, Balance]:
        return await self._call("fetch_balance", self.inner.fetch_balance)

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        return await self._call("create_order", lambda: self.inner.create_order(request))

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        return await self._call(
            "cancel_order",
            lambda: self.inner.cancel_order(
                symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
            ),
        )

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        return await self._call(
            "fetch_order",
            lambda: self.inner.fetch_order(
                symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
            ),
        )

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        return await self._call("fetch_open_orders", lambda: self.inner.fetch_open_orders(symbol))

    async def fetch_my_trades(
        self, symbol: str, since: datetime | None = None, limit: int = 500
    ) -> list[ExchangeTrade]:
        return await self._call(
            "fetch_my_trades", lambda: self.inner.fetch_my_trades(symbol, since, limit)
        )

    async def fetch_order_trades(
        self, symbol: str, exchange_order_id: str
    ) -> list[ExchangeTrade] | None:
        return await self._call(
            "fetch_order_trades",
            lambda: self.inner.fetch_order_trades(symbol, exchange_order_id),
        )

    async def close(self) -> None:
        await self.inner.close()
