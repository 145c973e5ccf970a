"""Real market data for the indicator tests, skipped (with the reason) only where it is absent."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.trading.indicators.market_data import DATA_DIR, chained_candles, load_candles

ONE_YEAR_OF_MINUTES = 525_600

# Three markets, three price scales: BTC/USDT 2017-2026 hourly (~1e3..1e5, a 30x trend, outage
# gaps), a Bittrex altcoin in BTC (~1e-3, with many minutes of unchanged prices, which hit the
# zero-loss and zero-variance branches), and XRP/ETH 5m (~1e-3, short).
REAL_CANDLE_FILES = [
    "binance_BTC_USDT-1h.csv.gz",
    "freqtrade_testdata/UNITTEST_BTC-1m.json",
    "freqtrade_testdata/XRP_ETH-5m.json",
]


def _require_data_dir() -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared market data not found at {DATA_DIR} (CI provides it)")


@pytest.fixture(scope="session", params=REAL_CANDLE_FILES)
def real_candles(request: pytest.FixtureRequest) -> pd.DataFrame:
    _require_data_dir()
    return load_candles(request.param)


@pytest.fixture(scope="session")
def year_of_minutes() -> pd.DataFrame:
    """525,600 1-minute BTC/USDT candles: the real 1m series chained end to end."""
    _require_data_dir()
    return chained_candles(load_candles("binance_BTC_USDT-1m.csv.gz"), ONE_YEAR_OF_MINUTES)
