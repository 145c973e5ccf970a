"""GET /exchanges/{id}/markets: loaded once through the public connector, cached with a TTL."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from autogrid.exchanges import router as exchanges_router
from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.catalog import exchange_info
from autogrid.exchanges.market_data_cache import MarketDataCache, SharedCache
from autogrid.exchanges.pool import ConnectorPool
from autogrid.exchanges.service import load_markets
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.api.conftest import exchange_requests, simulator_factory
from tests.helpers import ApiUser, assert_error_shape

MARKETS = "/api/v1/exchanges/binance/markets"
EXCHANGE_INFO = "/api/v3/exchangeInfo"


async def test_markets_quoted_in_usdt_with_our_rules_as_decimal_strings(
    api: httpx.AsyncClient, user: ApiUser
) -> None:
    response = await api.get(MARKETS, params={"quote": "usdt"}, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["exchange"] == "binance"
    assert body["total"] == 2
    btc, eth = body["items"]
    assert btc == {
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "amount_step": "0.00001",
        "price_tick": "0.01",
        "min_amount": "0.00001",
        "max_amount": "9000",
        "min_cost": "5",
        "min_price": "0.01",
        "max_price": "1000000",
        "maker_fee": "0.001",
        "taker_fee": "0.001",
        "active": True,
    }
    assert eth["symbol"] == "ETH/USDT" and eth["amount_step"] == "0.0001"
    assert body["loaded_at"].endswith("Z") or "+00:00" in body["loaded_at"]


async def test_without_a_filter_every_spot_market_and_other_quotes_filter(
    api: httpx.AsyncClient, user: ApiUser
) -> None:
    everything = await api.get(MARKETS, headers=user.headers)
    in_btc = await api.get(MARKETS, params={"quote": "BTC"}, headers=user.headers)
    in_eur = await api.get(MARKETS, params={"quote": "EUR"}, headers=user.headers)

    assert [m["symbol"] for m in everything.json()["items"]] == ["BTC/USDT", "ETH/BTC", "ETH/USDT"]
    assert [m["symbol"] for m in in_btc.json()["items"]] == ["ETH/BTC"]
    assert in_btc.json()["items"][0]["price_tick"] == "0.00001"
    assert in_eur.status_code == 200
    assert (in_eur.json()["items"], in_eur.json()["total"]) == ([], 0)


async def test_the_second_call_is_served_from_the_cache(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    first = await api.get(MARKETS, headers=user.headers)
    second = await api.get(MARKETS, params={"quote": "USDT"}, headers=user.headers)

    assert first.status_code == second.status_code == 200
    assert len(exchange_requests(sim, EXCHANGE_INFO)) == 1
    assert first.json()["loaded_at"] == second.json()["loaded_at"]


async def test_concurrent_requests_share_one_load(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    sim.inject_fault("delay", "GET " + EXCHANGE_INFO, seconds=0.2)  # a slow exchange

    responses = await asyncio.gather(*(api.get(MARKETS, headers=user.headers) for _ in range(6)))

    assert [r.status_code for r in responses] == [200] * 6
    assert len(exchange_requests(sim, EXCHANGE_INFO)) == 1


async def test_another_process_reuses_the_markets_cached_in_redis(
    api: httpx.AsyncClient, sim_app: FastAPI, user: ApiUser, sim: BinanceSimulator
) -> None:
    await api.get(MARKETS, headers=user.headers)
    # A second API process: its own memory and connectors, the same Redis.
    other = MarketDataCache(
        SharedCache(sim_app.state.redis, sim_app.state.settings.redis_key_prefix)
    )
    pool = ConnectorPool(simulator_factory(sim, MemoryBudgets()))
    binance = exchange_info("binance")
    assert binance is not None
    try:
        loaded = await load_markets(pool, other, binance)
    finally:
        await pool.close_all()

    assert sorted(loaded.markets) == ["BTC/USDT", "ETH/BTC", "ETH/USDT"]
    assert len(exchange_requests(sim, EXCHANGE_INFO)) == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("with_redis", [False, True], ids=["memory", "redis"])
async def test_markets_are_reloaded_after_the_ttl(
    sim_app: FastAPI, sim: BinanceSimulator, with_redis: bool
) -> None:
    clock = Clock()
    redis = sim_app.state.redis if with_redis else None
    store = SharedCache(redis, sim_app.state.settings.redis_key_prefix + "ttl-test:", clock=clock)
    cache = MarketDataCache(store, markets_ttl_seconds=60, clock=clock)
    pool = ConnectorPool(simulator_factory(sim, MemoryBudgets()))
    binance = exchange_info("binance")
    assert binance is not None
    try:
        first = await load_markets(pool, cache, binance)
        clock.now += 59
        cached = await load_markets(pool, cache, binance)
        assert len(exchange_requests(sim, EXCHANGE_INFO)) == 1
        clock.now += 2  # past the TTL (the Redis entry is read but its expiry has passed)
        reloaded = await load_markets(pool, cache, binance)
    finally:
        await pool.close_all()

    assert cached is first
    assert reloaded is not first and reloaded.loaded_at > first.loaded_at
    assert len(exchange_requests(sim, EXCHANGE_INFO)) == 2


async def test_without_redis_the_cache_lives_in_memory(
    api: httpx.AsyncClient, sim_app: FastAPI, user: ApiUser, sim: BinanceSimulator
) -> None:
    sim_app.state.market_data_cache = MarketDataCache(SharedCache(None, "unused:"))

    for _ in range(3):
        response = await api.get(MARKETS, headers=user.headers)
        assert response.status_code == 200, response.text

    assert len(exchange_requests(sim, EXCHANGE_INFO)) == 1
    ours = sim_app.state.settings.redis_key_prefix + "exchange-data:*"  # Redis is shared
    assert not [key async for key in sim_app.state.redis.scan_iter(match=ours)]


async def test_an_unknown_exchange_is_a_404_and_bad_input_a_422(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    unknown = await api.get("/api/v1/exchanges/nope/markets", headers=user.headers)
    bad_quote = await api.get(MARKETS, params={"quote": "US/DT"}, headers=user.headers)
    injected = await api.get(
        MARKETS, params={"hostname": "evil.example", "quote": "USDT"}, headers=user.headers
    )

    assert_error_shape(unknown, 404, "unknown_exchange")
    assert_error_shape(bad_quote, 422, "validation_error")
    assert_error_shape(injected, 422, "validation_error")
    assert sim.requests == []


async def test_markets_need_a_login(api: httpx.AsyncClient, sim: BinanceSimulator) -> None:
    response = await api.get(MARKETS)

    assert_error_shape(response, 401, "unauthorized")
    assert sim.requests == []


async def test_an_unavailable_exchange_is_a_503_remembered_briefly(
    app: FastAPI, api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    now = [1_800_000_000.0]
    app.state.market_data_cache = MarketDataCache(
        SharedCache(None, "t:", clock=lambda: now[0]), failure_ttl_seconds=15, clock=lambda: now[0]
    )
    sim.inject_fault("http_error", "GET " + EXCHANGE_INFO, times=None, status=502)

    down = await api.get(MARKETS, headers=user.headers)
    tried = len(exchange_requests(sim, EXCHANGE_INFO))
    sim.clear_faults()
    still_down = await api.get(MARKETS, headers=user.headers)
    not_asked_again = len(exchange_requests(sim, EXCHANGE_INFO)) == tried
    now[0] += 16
    back = await api.get(MARKETS, headers=user.headers)

    assert_error_shape(down, 503, "exchange_unavailable")
    assert down.json()["error"]["details"] == {"exchange": "binance"}
    # The failure is remembered for a short while: the same answer at once, saying how long.
    assert_error_shape(still_down, 503, "exchange_unavailable")
    assert still_down.headers["Retry-After"] == "15"
    assert not_asked_again
    # Then the exchange is asked again, and nothing of the failure was kept.
    assert back.status_code == 200


async def test_a_rate_limited_exchange_is_a_503_with_retry_after(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    sim.inject_fault("rate_limit", "GET " + EXCHANGE_INFO, times=None, retry_after=7)

    response = await api.get(MARKETS, headers=user.headers)

    assert_error_shape(response, 503, "exchange_unavailable")
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["details"]["retry_after"] == 7
    assert len(exchange_requests(sim, EXCHANGE_INFO)) == 1  # Retry-After 7 s > the retry budget


async def test_market_data_requests_are_rate_limited_per_user(
    api: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exchanges_router, "MARKET_DATA_PER_MINUTE", 2)

    statuses = [(await api.get(MARKETS, headers=user.headers)).status_code for _ in range(3)]
    other = await api.get(MARKETS, headers=other_user.headers)

    assert statuses == [200, 200, 429]
    assert other.status_code == 200
