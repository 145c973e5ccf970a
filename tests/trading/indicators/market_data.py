"""Real candles from the shared data directory (see its README.md), as pandas DataFrames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

# tests/trading/indicators/ -> repository root -> its sibling "shared/data" (/work/shared/data).
DATA_DIR = (Path(__file__).resolve().parents[3] / ".." / "shared" / "data").resolve()
COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]


def load_candles(relative_path: str) -> pd.DataFrame:
    """A normalised `.csv.gz` or a freqtrade `.json` candle file, with the same columns."""
    path = DATA_DIR / relative_path
    if path.suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text()), columns=COLUMNS)
    return pd.read_csv(path)


def chained_candles(candles: pd.DataFrame, length: int) -> pd.DataFrame:
    """`length` candles made by repeating `candles` end to end, each copy's prices rescaled so it
    opens at the previous copy's last close (a long series without artificial price jumps)."""
    prices = candles[PRICE_COLUMNS].to_numpy()
    copies = []
    last_close = prices[0, 0]
    for _ in range(-(-length // len(prices))):
        copy = prices * (last_close / prices[0, 0])
        copies.append(copy)
        last_close = copy[-1, 3]
    return pd.DataFrame(np.concatenate(copies)[:length], columns=PRICE_COLUMNS)
