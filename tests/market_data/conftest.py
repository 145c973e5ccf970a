"""Fixtures for candle storage tests: the real candle files, and a database of each backend."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BTC_1M = "binance_BTC_USDT-1m.csv.gz"
BTC_1H = "binance_BTC_USDT-1h.csv.gz"


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real candle file {path} is not on this machine (see shared/data/README.md)")
    return path


def head_lines(name: str, data_rows: int) -> list[str]:
    """The header and the first ``data_rows`` lines of a shared gzipped CSV, verbatim."""
    with gzip.open(shared_file(name), "rt", newline="") as source:
        return [source.readline() for _ in range(data_rows + 1)]


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", newline="") as target:
        target.writelines(lines)
    return path


@pytest.fixture
def btc_1m_5000(tmp_path: Path) -> Path:
    """The first 5,000 real 1m candles as a gzipped CSV (2025-05-20T00:00Z onwards)."""
    return write_gz(tmp_path / "BTC_USDT-1m-5000.csv.gz", head_lines(BTC_1M, 5000))
