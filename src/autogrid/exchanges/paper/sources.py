"""Where the paper exchange's prices come from: stored candles replayed, or a real exchange.

Both answer the same questions, always about *closed* candles or the current price, and never
about anything later than the moment they are asked about, so a replay cannot see its future.

* ``ReplayPriceSource`` reads the ``ohlcv`` table (filled by ``autogrid data import`` or the demo
  data). It needs no network: the ``make run`` demo uses it.
* ``LivePriceSource`` reads a real exchange's public data through a connector without
  credentials (a ``CcxtConnector``); its 1m candles let the exchange match every minute since its
  last look, so a crossing between two looks is never missed.

The sources never own what they are given: closing the database or the connector is the caller's.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.errors import ExchangeError
from autogrid.exchanges.paper import repository
from autogrid.exchanges.paper.clock import first_open_closing_after
from autogrid.exchanges.types import CandleData, MarketRules, OrderBook, Ticker
from autogrid.market_data.repository import fetch_candles
from autogrid.market_data.timeframes import timeframe_to_ms
from autogrid.models.paper import PriceSourceKind

logger = logging.getLogger(__name__)

LIVE_TIMEFRAME = "1m"


def timeframe_delta(timeframe: str) -> timedelta:
    return timedelta(milliseconds=timeframe_to_ms(timeframe))


class PriceSource(Protocol):
    """``session``: a transaction of the caller's to read in. Only a source whose prices are in
    our own database (the replay) uses it, so the paper exchange can read candles under its
    account lock in one round trip; a live source never holds a lock across the network."""

    kind: PriceSourceKind
    exchange_id: str

    async def market_rules(self) -> dict[str, MarketRules] | None:
        """The exchange's own market rules, or None when this source cannot tell."""
        ...

    async def closed_candles(
        self,
        symbol: str,
        timeframe: str,
        *,
        opened_from: datetime | None,
        closed_by: datetime,
        limit: int,
        session: AsyncSession | None = None,
    ) -> list[CandleData]:
        """Candles opened at or after ``opened_from`` that closed at or before ``closed_by``,
        oldest first, at most ``limit``; without ``opened_from``, the latest ``limit`` ones."""
        ...

    async def last_price(
        self, symbol: str, timeframe: str, at: datetime, session: AsyncSession | None = None
    ) -> Ticker | None:
        """The price at ``at``: the replay's last close by then, or the live ticker."""
        ...

    async def order_book(self, symbol: str, limit: int) -> OrderBook | None:
        """The live book, or None when the source has none (a replay)."""
        ...


class ReplayPriceSource:
    """Candles stored in the ``ohlcv`` table for ``exchange_id``.

    ``rules_from`` (optional, e.g. a public ``CcxtConnector``) supplies the real market rules when
    reachable; without it the paper exchange uses its built-in table, with no network at all.
    """

    kind = PriceSourceKind.REPLAY

    def __init__(
        self,
        database: Database,
        exchange_id: str,
        *,
        rules_from: ExchangeConnector | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self._database = database
        self._rules_from = rules_from

    async def market_rules(self) -> dict[str, MarketRules] | None:
        if self._rules_from is None:
            return None
        return await _rules_or_none(self._rules_from)

    async def closed_candles(
        self,
        symbol: str,
        timeframe: str,
        *,
        opened_from: datetime | None,
        closed_by: datetime,
        limit: int,
        session: AsyncSession | None = None,
    ) -> list[CandleData]:
        if session is None:
            async with self._database.session_scope() as own:
                return await self.closed_candles(
                    symbol,
                    timeframe,
                    opened_from=opened_from,
                    closed_by=closed_by,
                    limit=limit,
                    session=own,
                )
        opened_before = first_open_closing_after(closed_by, timeframe_delta(timeframe))
        if opened_from is None:
            return await repository.latest_candles(
                session, self.exchange_id, symbol, timeframe, opened_before, limit
            )
        if opened_from >= opened_before:
            return []
        return await fetch_candles(
            session, self.exchange_id, symbol, timeframe, opened_from, opened_before, limit=limit
        )

    async def last_price(
        self, symbol: str, timeframe: str, at: datetime, session: AsyncSession | None = None
    ) -> Ticker | None:
        candles = await self.closed_candles(
            symbol, timeframe, opened_from=None, closed_by=at, limit=1, session=session
        )
        if not candles:
            return None
        last = candles[-1]
        closed_at = last.ts + timeframe_delta(timeframe)
        return Ticker(symbol=symbol, last=last.close, bid=None, ask=None, ts=closed_at)

    async def order_book(self, symbol: str, limit: int) -> OrderBook | None:
        return None


class LivePriceSource:
    """A real exchange's public data through ``connector`` (no credentials needed)."""

    kind = PriceSourceKind.LIVE

    def __init__(self, connector: ExchangeConnector) -> None:
        self.exchange_id = connector.exchange_id
        self._connector = connector

    async def market_rules(self) -> dict[str, MarketRules] | None:
        return await _rules_or_none(self._connector)

    async def closed_candles(
        self,
        symbol: str,
        timeframe: str,
        *,
        opened_from: datetime | None,
        closed_by: datetime,
        limit: int,
        session: AsyncSession | None = None,
    ) -> list[CandleData]:
        step = timeframe_delta(timeframe)
        # The exchange also returns the candle still in progress: ask for one more, drop it.
        candles = await self._connector.fetch_ohlcv(symbol, timeframe, opened_from, limit + 1)
        closed = [candle for candle in candles if candle.ts + step <= closed_by]
        return closed[:limit] if opened_from is not None else closed[-limit:]

    async def last_price(
        self, symbol: str, timeframe: str, at: datetime, session: AsyncSession | None = None
    ) -> Ticker | None:
        return await self._connector.fetch_ticker(symbol)

    async def order_book(self, symbol: str, limit: int) -> OrderBook | None:
        return await self._connector.fetch_order_book(symbol, limit)


async def _rules_or_none(connector: ExchangeConnector) -> dict[str, MarketRules] | None:
    try:
        return await connector.load_markets()
    except ExchangeError as error:
        # Offline or refused: the built-in table stands in (the exchange logs the details).
        logger.warning(
            "paper exchange: %s market rules unavailable: %s", connector.exchange_id, error
        )
        return None
