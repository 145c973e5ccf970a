"""Bot validation sees the exchange's real market rules, or the built-in table when offline."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from autogrid.bots.markets import UnknownMarket
from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.errors import TemporaryExchangeError
from autogrid.exchanges.market_data_cache import MarketDataCache, SharedCache
from autogrid.exchanges.paper.markets import BINANCE_SPOT_RULES
from autogrid.exchanges.pool import ConnectorPool, ccxt_factory
from autogrid.exchanges.rules_provider import exchange_market_rules
from autogrid.exchanges.service import get_exchange
from autogrid.exchanges.types import MarketRules
from tests.exchange_sim import BinanceSimulator, SymbolSpec
from tests.exchange_sim.market import DEFAULT_SYMBOLS
from tests.exchanges.conftest import sim_api_urls
from tests.worker.processes import free_port


def provider_for(  # type: ignore[no-untyped-def]
    api_urls: dict[str, str], *, clock=time.time, markets_ttl: float = 3600
):
    pool = ConnectorPool(
        ccxt_factory(MemoryBudgets(), timeout_ms=1_000, api_urls={"binance": api_urls})
    )
    cache = MarketDataCache(
        SharedCache(None, "t:", clock=clock), markets_ttl_seconds=markets_ttl, clock=clock
    )
    return pool, exchange_market_rules(pool, cache)


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
    closed_port = {name: f"http://127.0.0.1:{free_port()}/api" for name in ("public", "private")}
    pool, provider = provider_for(closed_port)
    try:
        assert await provider("binance", "BTC/USDT") == BINANCE_SPOT_RULES["BTC/USDT"]
        # The built-in list is known: a symbol it lacks is "no such market", not "try later".
        with pytest.raises(UnknownMarket, match="DOGE/TRY"):
            await provider("binance", "DOGE/TRY")
    finally:
        await pool.close_all()


async def test_unreachable_exchange_falls_back_to_its_last_known_list() -> None:
    now = [1_800_000_000.0]
    port = free_port()
    doge = SymbolSpec(
        base="DOGE",
        quote="USDT",
        tick_size=Decimal("0.00001"),
        step_size=Decimal("1"),
        min_qty=Decimal("1"),
        initial_price=Decimal("0.2"),
        min_price=Decimal("0.00001"),
    )
    pool, provider = provider_for(
        sim_api_urls(f"http://127.0.0.1:{port}"), clock=lambda: now[0], markets_ttl=60
    )
    try:
        async with BinanceSimulator(port=port, symbols=(*DEFAULT_SYMBOLS, doge)):
            loaded = await provider("binance", "DOGE/USDT")
        now[0] += 61  # the list is stale and the exchange is gone
        assert await provider("binance", "DOGE/USDT") == loaded  # not in the built-in table
        with pytest.raises(UnknownMarket, match="NOPE/USDT"):
            await provider("binance", "NOPE/USDT")
    finally:
        await pool.close_all()


async def test_a_failed_load_is_shared_by_every_process_until_its_ttl_ends(
    redis_url: str,
) -> None:
    """Two API processes on one Redis: the second does not try the unreachable exchange."""
    closed_port = sim_api_urls(f"http://127.0.0.1:{free_port()}")
    prefix = f"agtest:{uuid.uuid4().hex[:8]}:"
    redis = Redis.from_url(redis_url)
    loads: list[int] = []
    first = MarketDataCache(SharedCache(redis, prefix), failure_ttl_seconds=30)
    second = MarketDataCache(SharedCache(redis, prefix), failure_ttl_seconds=30)
    pool = ConnectorPool(
        ccxt_factory(MemoryBudgets(), timeout_ms=1_000, api_urls={"binance": closed_port})
    )
    info = await get_exchange("binance")

    async def load() -> dict[str, MarketRules]:
        loads.append(1)
        connector = await pool.public("binance")
        return await connector.load_markets(reload=True)

    try:
        with pytest.raises(TemporaryExchangeError):
            await first.markets(info.exchange_id, load)
        with pytest.raises(TemporaryExchangeError) as raised:
            await second.markets(info.exchange_id, load)
        assert loads == [1]
        assert raised.value.retry_after is not None and 0 < raised.value.retry_after <= 30
    finally:
        await pool.close_all()
        for stale in [k async for k in redis.scan_iter(match=f"{prefix}*")]:
            await redis.delete(stale)
        await redis.aclose()
