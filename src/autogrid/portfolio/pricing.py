"""What one unit of a currency is worth in USDT, and where that figure comes from.

- USDT itself: 1.
- A live account (an exchange key, or a paper account on live prices): the last trade of the
  currency's USDT pair from the exchange's public ticker, at the ticker's time; if the exchange
  does not answer within the portfolio's timeout, the close of the newest stored candle of that
  pair (any timeframe), at the candle's open time; else no value, with the reason.
- A paper account replaying stored candles: the close of the last candle of the pair (in the
  account's timeframe) that had closed at the account's own clock (``matched_until``): the
  price its exchange is at, not today's.

Prices are looked up once per request and currency (``Pricer`` remembers them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.errors import ExchangeError, TemporaryExchangeError
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.portfolio import repository

logger = logging.getLogger(__name__)

USDT = "USDT"
ONE = Decimal(1)


class Source:
    UNIT = "unit"
    TICKER = "ticker"
    STORED_CANDLE = "stored_candle"
    REPLAY_CANDLE = "replay_candle"


@dataclass(frozen=True, slots=True)
class Price:
    """A currency's price in USDT, or why there is none."""

    usdt: Decimal | None
    source: str | None = None
    at: datetime | None = None
    reason: str | None = None


PublicConnector = Callable[[str], Awaitable[ExchangeConnector]]


class Pricer:
    def __init__(
        self,
        session: AsyncSession,
        public: PublicConnector,
        now: datetime,
        timeout_seconds: float,
    ) -> None:
        self.session = session
        self.public = public
        self.now = now
        self.timeout = timeout_seconds
        self._live: dict[tuple[str, str], Price] = {}
        self._replay: dict[tuple[str, str, str, datetime], Price] = {}
        self._down: set[str] = set()  # exchanges that failed once: not asked again this request

    async def live(self, exchange: str, currency: str) -> Price:
        if currency == USDT:
            return Price(ONE, Source.UNIT, self.now)
        key = (exchange, currency)
        if key not in self._live:
            self._live[key] = await self._live_price(exchange, currency)
        return self._live[key]

    async def replay(self, exchange: str, currency: str, timeframe: str, at: datetime) -> Price:
        if currency == USDT:
            return Price(ONE, Source.UNIT, at)
        key = (exchange, currency, timeframe, at)
        if key not in self._replay:
            symbol = f"{currency}/{USDT}"
            opened_by = at - timedelta(milliseconds=parse_timeframe(timeframe).ms)
            row = await repository.candle_close(
                self.session, exchange, symbol, opened_before=opened_by, timeframe=timeframe
            )
            self._replay[key] = (
                Price(row[1], Source.REPLAY_CANDLE, row[0])
                if row is not None
                else Price(None, reason=f"no stored {symbol} {timeframe} candle at {at}")
            )
        return self._replay[key]

    async def _live_price(self, exchange: str, currency: str) -> Price:
        symbol = f"{currency}/{USDT}"
        if exchange not in self._down:
            try:
                async with asyncio.timeout(self.timeout):
                    connector = await self.public(exchange)
                    ticker = await connector.fetch_ticker(symbol)
                return Price(ticker.last, Source.TICKER, ticker.ts)
            except (ExchangeError, TimeoutError) as error:
                logger.info(
                    "portfolio: no %s ticker on %s: %s", symbol, exchange, type(error).__name__
                )
                if isinstance(error, (TimeoutError, TemporaryExchangeError)):
                    self._down.add(exchange)  # down, not just this pair: ask no more of it
        row = await repository.candle_close(self.session, exchange, symbol, opened_before=self.now)
        if row is not None:
            return Price(row[1], Source.STORED_CANDLE, row[0])
        return Price(None, reason=f"no {symbol} price on {exchange}: no ticker, no stored candle")
