"""Bot validation sees the exchange's real market rules, or the built-in table when offline."""

from __future__ import annotations

import pytest

from autogrid.bots.markets import UnknownMarket
from autogrid.exchanges.api_errors import ExchangeUnavailable
from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.paper.markets import BINANCE_SPOT_RULES
from autogrid.exchanges.pool import ConnectorPool, ccxt_factory
from autogrid.exchanges.rules_provider import exchange_market_rules
from autogrid.exchanges.service import MarketDataCache, SharedCache
from tests.exchange_sim import BinanceSimulator
from tests.exchange_sim.market import DEFAULT_SYMBOLS
from tests.exchanges.conftest import sim_api_urls


def provider_for(api_urls: dict[str, str]):  # type: ignore[no-untyped-def]
    pool = ConnectorPool(ccxt_factory(MemoryBudgets(), timeout_ms=1_000,
                                      api_urls={"binance": api_urls}))
    return pool, exchange_market_rules(pool, MarketDataCache(SharedCache(None, "t:")))


async def test_rules_come_from_the_exchange(sim: BinanceSimulator) -> None:
    pool, provider = provider_for(sim_api_urls(sim.url))
    try:
        rules = await provider("binance", "BTC/USDT")
        assert rules.symbol == "BTC/USDT" and rules.amount_step > 0
        spec = next(s for s in DEFAULT_SYMBOLS if f"{s.base}/{s.quote}" == "BTC/USDT")
        assert (rules.amount_step, rules.price_tick) == (spec.step_size, spec.tick_size)
        assert rules.min_cost == spec.min_notional
        with pytest.raises(UnknownMarket):
            await provider("binance", "NOPE/USDT")
    finally:
        await pool.close_all()


async def test_unreachable_exchange_falls_back_to_the_builtin_table_for_known_symbols() -> None:
    closed_port = {name: "http://127.0.0.1:1/api" for name in ("public", "private")}
    pool, provider = provider_for(closed_port)
    try:
        assert await provider("binance", "BTC/USDT") == BINANCE_SPOT_RULES["BTC/USDT"]
        with pytest.raises(ExchangeUnavailable):
            await provider("binance", "DOGE/TRY")
    finally:
        await pool.close_all()

