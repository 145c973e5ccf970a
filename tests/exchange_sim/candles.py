"""Kline storage and Binance's /api/v3/klines query semantics.

Tests provide candles per (symbol, interval); a coarser interval is aggregated on demand from the
finest stored one that divides it, so a 1m series also answers 5m and 1h requests.
"""

from __future__ import annotations

import csv
import functools
import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tests.exchange_sim import errors
from tests.exchange_sim.market import fmt

# Real Binance BTC/USDT 1m candles (see /work/shared/data/README.md); optional.
DEFAULT_CANDLE_FILE = Path("/work/shared/data/binance_BTC_USDT-1m.csv.gz")
DEFAULT_CANDLE_ROWS = 5000

KLINES_DEFAULT_LIMIT = 500
KLINES_MAX_LIMIT = 1000

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# Binance's spot intervals except 1M, whose length varies by month.
INTERVALS = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
)  # fmt: skip


def interval_ms(interval: str) -> int:
    if interval not in INTERVALS:
        raise errors.BinanceError(-1120, "Invalid interval.")
    return int(interval[:-1]) * _UNIT_MS[interval[-1]]


@dataclass(frozen=True)
class Candle:
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Candle:
        """From ``[timestamp_ms, open, high, low, close, volume]`` (ccxt's OHLCV shape)."""
        ts, o, h, low, c, v = row[:6]
        return cls(int(str(ts)), *(Decimal(str(x)) for x in (o, h, low, c, v)))

    def to_kline(self, duration_ms: int) -> list[object]:
        quote_volume = self.volume * self.close  # an estimate; Binance reports the exact sum
        return [
            self.open_time,
            fmt(self.open),
            fmt(self.high),
            fmt(self.low),
            fmt(self.close),
            fmt(self.volume),
            self.open_time + duration_ms - 1,
            fmt(quote_volume),
            0,
            fmt(Decimal(0)),
            fmt(Decimal(0)),
            "0",
        ]


def aggregate(candles: Sequence[Candle], duration_ms: int) -> list[Candle]:
    """Group candles into buckets aligned to ``duration_ms`` (epoch-aligned, like Binance's)."""
    result: list[Candle] = []
    bucket: list[Candle] = []
    for candle in candles:
        start = candle.open_time - candle.open_time % duration_ms
        if bucket and bucket[0].open_time - bucket[0].open_time % duration_ms != start:
            result.append(_merge(bucket, duration_ms))
            bucket = []
        bucket.append(candle)
    if bucket:
        result.append(_merge(bucket, duration_ms))
    return result


def _merge(bucket: Sequence[Candle], duration_ms: int) -> Candle:
    return Candle(
        open_time=bucket[0].open_time - bucket[0].open_time % duration_ms,
        open=bucket[0].open,
        high=max(c.high for c in bucket),
        low=min(c.low for c in bucket),
        close=bucket[-1].close,
        volume=sum((c.volume for c in bucket), Decimal(0)),
    )


def load_csv(path: Path = DEFAULT_CANDLE_FILE, rows: int = DEFAULT_CANDLE_ROWS) -> list[Candle]:
    """The first ``rows`` candles of a normalised CSV; [] when the file is absent."""
    return list(_read_csv(path, rows))


@functools.cache
def _read_csv(path: Path, rows: int) -> tuple[Candle, ...]:
    # Cached: every simulator loads the same default series.
    if not path.exists():
        return ()
    candles: list[Candle] = []
    with gzip.open(path, "rt", newline="") as handle:
        for record in csv.DictReader(handle):
            if len(candles) >= rows:
                break
            candles.append(
                Candle.from_row(
                    [record[key] for key in ("timestamp", "open", "high", "low", "close", "volume")]
                )
            )
    return tuple(candles)


class CandleStore:
    """Candles per (symbol id, interval), answering klines queries like Binance."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], list[Candle]] = {}
        self._derived: dict[tuple[str, str], list[Candle]] = {}

    def set_candles(
        self, symbol_id: str, interval: str, rows: Iterable[Candle | Sequence[object]]
    ) -> int:
        interval_ms(interval)
        candles = sorted(
            (row if isinstance(row, Candle) else Candle.from_row(row) for row in rows),
            key=lambda c: c.open_time,
        )
        self._series[(symbol_id, interval)] = candles
        self._derived.clear()
        return len(candles)

    def series(self, symbol_id: str, interval: str) -> list[Candle]:
        key = (symbol_id, interval)
        if key in self._series:
            return self._series[key]
        if key not in self._derived:
            self._derived[key] = self._resample(symbol_id, interval)
        return self._derived[key]

    def _resample(self, symbol_id: str, interval: str) -> list[Candle]:
        wanted = interval_ms(interval)
        sources = sorted(
            (interval_ms(i), i)
            for (sym, i) in self._series
            if sym == symbol_id and interval_ms(i) < wanted and wanted % interval_ms(i) == 0
        )
        if not sources:
            return []
        return aggregate(self._series[(symbol_id, sources[0][1])], wanted)

    def klines(
        self,
        symbol_id: str,
        interval: str,
        start_time: int | None,
        end_time: int | None,
        limit: int | None,
    ) -> list[list[object]]:
        duration = interval_ms(interval)
        count = KLINES_DEFAULT_LIMIT if limit is None else max(1, min(limit, KLINES_MAX_LIMIT))
        candles = self.series(symbol_id, interval)
        selected = [
            c
            for c in candles
            if (start_time is None or c.open_time >= start_time)
            and (end_time is None or c.open_time <= end_time)
        ]
        # Binance pages forward from startTime; without it, it returns the latest candles.
        window = selected[:count] if start_time is not None else selected[-count:]
        return [c.to_kline(duration) for c in window]
