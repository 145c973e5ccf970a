"""A worker's task gets the real market rules, as the API does (a signal's smart trade is checked
against them when it is created)."""

from __future__ import annotations

from decimal import Decimal

from autogrid.core.config import Settings
from autogrid.exchanges.rules_provider import worker_market_rules
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import sim_api_urls


async def test_a_worker_reads_the_exchanges_own_market_rules(
    settings: Settings, sim: BinanceSimulator
) -> None:
    on_sim = settings.model_copy(update={"exchange_api_urls": {"binance": sim_api_urls(sim.url)}})
    async with worker_market_rules(on_sim) as markets:
        rules = await markets("binance", "BTC/USDT")
    assert rules.symbol == "BTC/USDT"
    assert rules.min_cost == Decimal(5)  # binance's own NOTIONAL filter, not the default 10
