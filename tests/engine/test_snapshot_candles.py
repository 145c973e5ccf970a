"""Strategies see closed candles only: the exchange's newest candle may still be forming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from autogrid.engine.snapshot import closed_candles
from autogrid.exchanges.types import CandleData

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def candle(minutes: int) -> CandleData:
    one = Decimal(1)
    return CandleData(START + timedelta(minutes=minutes), one, one, one, one, one)


def test_the_forming_candle_is_dropped() -> None:
    rows = [candle(0), candle(15), candle(30)]  # 15m candles; the 12:30 one closes at 12:45
    at = START + timedelta(minutes=44, seconds=59)
    assert [c.ts for c in closed_candles(rows, "15m", at)] == [START, START + timedelta(minutes=15)]


def test_a_candle_closing_exactly_now_counts() -> None:
    rows = [candle(0), candle(15), candle(30)]
    at = START + timedelta(minutes=45)
    assert len(closed_candles(rows, "15m", at)) == 3
