"""What a stored series covers, and what a run over it would miss, said one way for everyone.

A backtest that finds no candles in its range and a replay bot refused at create or start name
the missing exchange, symbol, timeframe or range in the same words, with what *is* stored, so
the owner knows what to import (or which start or timeframe to pick instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.market_data import repository
from autogrid.market_data.timeframes import timeframe_to_ms

IMPORT_HINT = "import them first (autogrid data import / download)"


@dataclass(frozen=True, slots=True)
class MissingCandles:
    """What is missing; ``field`` is what the owner should change: "symbol", "timeframe" or
    "start"."""

    message: str
    field: str


@dataclass(frozen=True, slots=True)
class StoredSpan:
    first: datetime  # open time of the first stored candle
    last: datetime  # open time of the last
    step: timedelta

    @property
    def end(self) -> datetime:
        """When the last stored candle closes: nothing can be replayed after it."""
        return self.last + self.step

    def describe(self) -> str:
        return f"from {self.first.isoformat()} to {self.end.isoformat()}"


async def stored_span(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str
) -> StoredSpan | None:
    bounds = await repository.series_bounds(session, exchange, symbol, timeframe)
    if bounds is None:
        return None
    step = timedelta(milliseconds=timeframe_to_ms(timeframe))
    return StoredSpan(bounds[0], bounds[1], step)


async def missing_series(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str
) -> MissingCandles:
    """Why a series is empty: no candles of the symbol at all, or none of this timeframe."""
    others = await repository.stored_timeframes(session, exchange, symbol)
    if not others:
        return MissingCandles(
            f"no candles are stored for {exchange} {symbol}: {IMPORT_HINT}", "symbol"
        )
    return MissingCandles(
        f"no {timeframe} candles are stored for {exchange} {symbol} (stored: "
        f"{', '.join(others)}): {IMPORT_HINT}, or use a stored timeframe",
        "timeframe",
    )


async def replay_gap(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    position: datetime,
    *,
    resumed: bool = False,
) -> MissingCandles | None:
    """What a replay from ``position`` cannot find, or None when it has candles to play.

    A fresh replay starts at its ``start``: the stored candles must begin by then (a start
    before them would idle, waiting for data that never comes) and end after it. A ``resumed``
    one carries on from where its account got to: a candle must close after that."""
    span = await stored_span(session, exchange, symbol, timeframe)
    if span is None:
        return await missing_series(session, exchange, symbol, timeframe)
    series = f"the stored {exchange} {symbol} {timeframe} candles run {span.describe()}"
    if position >= span.end:
        if resumed:
            return MissingCandles(
                f"the replay has played every stored candle ({series}): {IMPORT_HINT} to play "
                "on, or change the paper settings to replay again",
                "start",
            )
        return MissingCandles(
            f"nothing to replay from {position.isoformat()}: {series}; start within them", "start"
        )
    if position < span.first:
        return MissingCandles(
            f"no candles stored before {span.first.isoformat()} to replay from "
            f"{position.isoformat()}: {series}; start within them, or {IMPORT_HINT}",
            "start",
        )
    return None


async def describe_missing_range(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    found: str,
) -> str:
    """A run over [start, end) found too few candles (``found``: "no candles"...): say so, and
    what is stored instead."""
    series = f"{exchange} {symbol} {timeframe}"
    wanted = f"{found} stored for {series} from {start.isoformat()} to {end.isoformat()}"
    span = await stored_span(session, exchange, symbol, timeframe)
    if span is None:
        return f"{wanted}: {(await missing_series(session, exchange, symbol, timeframe)).message}"
    return f"{wanted} (stored: {span.describe()}): {IMPORT_HINT}"
