"""The simulator's price path: real Binance BTC/USDT 1m candles, four points per candle.

Each candle is walked open -> low -> high -> close when it closed up (high first when it closed
down), the order a trader would assume from the candle alone. A seed picks the slice, so a run
can be repeated on the same prices.
"""

from __future__ import annotations

import csv
import gzip
import random
from decimal import Decimal
from pathlib import Path

CANDLE_FILE = Path("/work/shared/data/binance_BTC_USDT-1m.csv.gz")
POINTS_PER_CANDLE = 4


def candle_slice(count: int, rng: random.Random, path: Path = CANDLE_FILE) -> list[list[Decimal]]:
    """``count`` consecutive candles ``[open, high, low, close]`` from a seeded position."""
    with gzip.open(path, "rt", newline="") as handle:
        rows = [
            [Decimal(r["open"]), Decimal(r["high"]), Decimal(r["low"]), Decimal(r["close"])]
            for r in csv.DictReader(handle)
        ]
    if len(rows) < count:
        raise ValueError(f"{path} has {len(rows)} candles, fewer than the {count} asked")
    start = rng.randrange(0, len(rows) - count + 1)
    return rows[start : start + count]


def price_path(candles: list[list[Decimal]]) -> list[Decimal]:
    points: list[Decimal] = []
    for open_, high, low, close in candles:
        extremes = [low, high] if close >= open_ else [high, low]
        points.extend([open_, *extremes, close])
    return [p.quantize(Decimal("0.01")) for p in points]
