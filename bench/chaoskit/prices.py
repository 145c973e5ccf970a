"""The simulator's price path: real Binance BTC/USDT 1m candles, four points per candle.

Each candle is walked open -> low -> high -> close when it closed up (high first when it closed
down), the order a trader would assume from the candle alone. A seed picks the slice (the
liveliest of a few seeded ones), so a run can be repeated on the same prices.
"""

from __future__ import annotations

import csv
import gzip
import random
from decimal import Decimal
from pathlib import Path

CANDLE_FILE = Path("/work/shared/data/binance_BTC_USDT-1m.csv.gz")
POINTS_PER_CANDLE = 4
SLICE_CANDIDATES = 20


def candle_slice(
    count: int, rng: random.Random, path: Path = CANDLE_FILE, candidates: int = SLICE_CANDIDATES
) -> list[list[Decimal]]:
    """``count`` consecutive candles ``[open, high, low, close]``: of a few seeded positions, the
    one whose prices range widest (a quiet hour fills nothing and tests little)."""
    with gzip.open(path, "rt", newline="") as handle:
        rows = [
            [Decimal(r["open"]), Decimal(r["high"]), Decimal(r["low"]), Decimal(r["close"])]
            for r in csv.DictReader(handle)
        ]
    if len(rows) < count:
        raise ValueError(f"{path} has {len(rows)} candles, fewer than the {count} asked")
    starts = [rng.randrange(0, len(rows) - count + 1) for _ in range(candidates)]
    return max((rows[i : i + count] for i in starts), key=_spread)


def _spread(candles: list[list[Decimal]]) -> Decimal:
    high = max(c[1] for c in candles)
    low = min(c[2] for c in candles)
    return (high - low) / candles[0][0]


def price_path(candles: list[list[Decimal]]) -> list[Decimal]:
    points: list[Decimal] = []
    for open_, high, low, close in candles:
        extremes = [low, high] if close >= open_ else [high, low]
        points.extend([open_, *extremes, close])
    return [p.quantize(Decimal("0.01")) for p in points]
