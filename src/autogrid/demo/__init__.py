"""Shipped sample data so a fresh install has real candles to backtest and chart.

``BTC_USDT-1m.csv.gz``: Binance spot BTC/USDT 1m candles, 43,200 rows (30 days, 2025-05-20T00:00Z to
2025-06-18T23:59Z), the first lines of ``binance_BTC_USDT-1m.csv.gz`` from the files listed in
../shared/data/README.md, copied verbatim (the header and the first 43,200 rows).
Thirty days so that the demo bot, replaying at 30x, trades for a whole day before its data ends.
"""

from __future__ import annotations

from importlib.resources import as_file, files

from autogrid.core.db import Database
from autogrid.market_data.service import import_candle_file

DEMO_CANDLES_FILE = "BTC_USDT-1m.csv.gz"
DEMO_EXCHANGE = "binance"
DEMO_SYMBOL = "BTC/USDT"
DEMO_TIMEFRAME = "1m"


async def import_demo_candles(database: Database) -> int:
    """Import the sample candles (idempotent); return how many rows were new."""
    with as_file(files(__name__) / DEMO_CANDLES_FILE) as path:
        async with database.session_scope() as session:
            report = await import_candle_file(
                session,
                path,
                exchange=DEMO_EXCHANGE,
                symbol=DEMO_SYMBOL,
                timeframe=DEMO_TIMEFRAME,
            )
    return report.inserted
