"""Access to the real candle files in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        # Also read at import by modules whose constants are real rows: skip those whole.
        pytest.skip(f"real candle file {path} is not on this machine", allow_module_level=True)
    return path


def load_csv_rows(name: str, limit: int | None = None) -> np.ndarray:
    """Rows ``[ts_ms, open, high, low, close, volume]`` of a normalised CSV file."""
    with gzip.open(shared_file(name), "rt") as handle:
        return np.loadtxt(handle, delimiter=",", skiprows=1, max_rows=limit)
