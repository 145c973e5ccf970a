from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import Money, UTCDateTime
from autogrid.models.base import Base


class Candle(Base):
    """OHLCV candle keyed by its open time (a hypertable where TimescaleDB exists)."""

    __tablename__ = "ohlcv"

    exchange: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    open: Mapped[Decimal] = mapped_column(Money, nullable=False)
    high: Mapped[Decimal] = mapped_column(Money, nullable=False)
    low: Mapped[Decimal] = mapped_column(Money, nullable=False)
    close: Mapped[Decimal] = mapped_column(Money, nullable=False)
    volume: Mapped[Decimal] = mapped_column(Money, nullable=False)


class CandleSeriesVersion(Base):
    """How many writes changed a candle series, besides adding candles after its last (those
    change the ends of the ranges they fall in): a cache of its candles is valid only while this
    and the range's ends are unchanged (``market_data.repository.range_version``). Bumped in the
    writing transaction by the one place that writes ``ohlcv`` (``candle_upserts``); no row, or
    0, means no write since this table exists. Candles changed by hand (SQL) must bump it in the
    same transaction, or the backtest workers may go on serving the candles they cached."""

    __tablename__ = "candle_series_versions"

    exchange: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    writes: Mapped[int] = mapped_column(BigInteger, nullable=False)
