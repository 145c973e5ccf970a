"""The sample candles shipped in the package, and their idempotent first-start import."""

from __future__ import annotations

import gzip
from importlib.resources import files

from autogrid.core.db import Database
from autogrid.demo import DEMO_CANDLES_FILE, import_demo_candles
from autogrid.market_data.repository import earliest_ts, fetch_candles, latest_ts
from tests.market_data.conftest import BTC_1M, head_lines


def demo_file_bytes() -> bytes:
    return (files("autogrid.demo") / DEMO_CANDLES_FILE).read_bytes()


def test_demo_file_is_small_and_a_verbatim_copy_of_the_real_series() -> None:
    raw = demo_file_bytes()
    assert len(raw) < 1_000_000
    text = gzip.decompress(raw).decode()
    assert text == "".join(head_lines(BTC_1M, 30 * 1440))  # 30 days from 2025-05-20T00:00Z


async def test_demo_import_is_idempotent(database: Database) -> None:
    assert await import_demo_candles(database) == 30 * 1440
    assert await import_demo_candles(database) == 0

    async with database.session_scope() as session:
        first = await earliest_ts(session, "binance", "BTC/USDT", "1m")
        last = await latest_ts(session, "binance", "BTC/USDT", "1m")
        candles = await fetch_candles(session, "binance", "BTC/USDT", "1m", limit=1)
    assert (f"{first:%Y-%m-%dT%H:%M}", f"{last:%Y-%m-%dT%H:%M}") == (
        "2025-05-20T00:00",
        "2025-06-18T23:59",
    )
    assert str(candles[0].open) == "105573.73"
