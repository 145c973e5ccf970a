"""The connector interface every exchange implementation (ccxt, paper) provides."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

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


class ExchangeConnector(Protocol):
    """Async access to one exchange account (or to public data only, without credentials).

    Every method raises only ``autogrid.exchanges.errors`` classes. Reads and cancels retry
    temporary errors internally (bounded); what escapes is final for this call.

    ``create_order`` is sent at most once:
    - ``OrderOutcomeUnknown`` (and its subclass ``DuplicateClientOrderId``): the order may exist;
      resolve it with ``fetch_order(client_order_id=...)``, allowing a grace window;
    - ``TemporaryExchangeError``/``RateLimited``: raised only when nothing was sent, so the order
      surely does not exist and may be tried again later with the same client order id;
    - ``OrderRejected``/``InsufficientFunds``/``AuthenticationFailed``: a definitive refusal.
    A caller that cancels the ``create_order`` task itself must treat the order as unknown too.
    """

    exchange_id: str

    async def load_markets(
        self, *, reload: bool = False, retry: RetryPolicy | None = None
    ) -> dict[str, MarketRules]:
        """``retry`` replaces the connector's own policy for this call (a caller that a user
        is waiting on passes ``NO_RETRY``: one attempt, then it falls back)."""
        ...

    async def market(self, symbol: str) -> MarketRules: ...

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook: ...

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 500
    ) -> list[CandleData]: ...

    async def fetch_balance(self) -> dict[str, Balance]: ...

    async def create_order(self, request: OrderRequest) -> ExchangeOrder: ...

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        """The canceled order, or None when the exchange has no *open* order by that id (already
        filled, canceled, or never placed: ``fetch_order`` tells which). Raises
        ``OrderOutcomeUnknown`` when every attempt stayed ambiguous."""
        ...

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        """The order, or None when the exchange says it does not exist."""
        ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]: ...

    async def fetch_my_trades(
        self, symbol: str, since: datetime | None = None, limit: int = 500
    ) -> list[ExchangeTrade]: ...

    async def fetch_order_trades(
        self, symbol: str, exchange_order_id: str
    ) -> list[ExchangeTrade] | None:
        """Every trade of one order, oldest first, asked of the exchange by that order (one
        request for an ordinary order, however busy the account). None when this exchange
        cannot list one order's trades: the caller scans ``fetch_my_trades`` instead."""
        ...

    async def close(self) -> None: ...


def required_quote(request: OrderRequest, reference_price: Decimal) -> Decimal:
    """Quote needed to place a buy (limit at its price, market at the reference price)."""
    return request.amount * (request.price or reference_price)
