"""The paper exchange: the ``ExchangeConnector`` interface over simulated accounts kept in the
database, priced by replayed candles or by a real exchange's live public data.

Start with ``exchange.py`` (time, stepping, exchange-like answers); ``matching.py`` holds the
arithmetic shared with the backtest, ``advance.py`` how the clock moves, ``sources.py`` the
prices, ``markets.py`` the rules used when the exchange cannot be asked.
"""

from autogrid.exchanges.paper.accounts import create_paper_account
from autogrid.exchanges.paper.exchange import LIVE_SETTLE_DELAY, PaperExchange
from autogrid.exchanges.paper.markets import BINANCE_SPOT_RULES, builtin_markets, generic_rules
from autogrid.exchanges.paper.sources import (
    LIVE_TIMEFRAME,
    LivePriceSource,
    PriceSource,
    ReplayPriceSource,
)
from autogrid.models.paper import PriceSourceKind

__all__ = [
    "BINANCE_SPOT_RULES",
    "LIVE_SETTLE_DELAY",
    "LIVE_TIMEFRAME",
    "LivePriceSource",
    "PaperExchange",
    "PriceSource",
    "PriceSourceKind",
    "ReplayPriceSource",
    "builtin_markets",
    "create_paper_account",
    "generic_rules",
]
