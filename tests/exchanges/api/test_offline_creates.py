"""Creating bots and backtests while the exchange is unreachable.

The exchange's base URL points at a closed local port. Its market list fails to load once; for a
short while after, creates neither wait on the network nor try it again, and a symbol that the
list known offline (the built-in one here) lacks is a 422 naming it. Once the exchange answers
again and that while has passed, its real list is used: a market only it lists is accepted.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.budget import MemoryBudgets, credential_key
from autogrid.exchanges.ccxt import CcxtConnector, budget_spec_for
from autogrid.exchanges.paper.markets import BINANCE_SPOT_RULES
from autogrid.exchanges.pool import ConnectorKey, ConnectorPool
from autogrid.exchanges.rules_provider import exchange_market_rules
from autogrid.exchanges.service import MarketDataCache, SharedCache
from autogrid.exchanges.types import ApiCredentials, MarketRules
from tests.bots.factories import BOTS, grid_body
from tests.exchange_sim import DEFAULT_SYMBOLS, BinanceSimulator, SymbolSpec
from tests.exchanges.conftest import CLIENT_TIMEOUT_MS, FAST_RETRY, sim_api_urls
from tests.helpers import ApiUser, assert_error_shape
from tests.worker.processes import free_port

BACKTESTS = "/api/v1/backtests"
FAILURE_TTL = 15.0
# Listed by the exchange (the simulator below), not by the built-in offline table.
DOGE = SymbolSpec(
    base="DOGE",
    quote="USDT",
    tick_size=Decimal("0.00001"),
    step_size=Decimal("1"),
    min_qty=Decimal("1"),
    initial_price=Decimal("0.2"),
    min_price=Decimal("0.00001"),
)
BACKTEST_BODY: dict[str, Any] = {
    "type": "grid",
    "config": {
        "lower_price": "103000",
        "upper_price": "112000",
        "grid_count": 20,
        "investment": "5000",
    },
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "timeframe": "1m",
    "start": "2025-05-20T00:00:00Z",
    "end": "2025-05-22T02:00:00Z",
    "initial_balance": "10000",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingConnector(CcxtConnector):
    """The real ccxt connector; counts how often the market list is asked of the exchange."""

    loads: list[str]

    async def load_markets(self, *, reload: bool = False) -> dict[str, MarketRules]:
        if reload or self._markets is None:
            self.loads.append("load_markets")
        return await super().load_markets(reload=reload)


@dataclass
class Offline:
    port: int
    clock: Clock
    loads: list[str] = field(default_factory=list)


@dataclass
class QueueRecorder:
    sent: list[uuid.UUID] = field(default_factory=list)

    def send(self, backtest_ids: Sequence[uuid.UUID]) -> None:
        self.sent.extend(backtest_ids)


@pytest.fixture
async def offline(app: FastAPI) -> AsyncIterator[Offline]:
    """The app's market rules come from binance at a port nobody listens on (yet)."""
    state = Offline(port=free_port(), clock=Clock())
    urls = sim_api_urls(f"http://127.0.0.1:{state.port}")
    budgets = MemoryBudgets()

    def build(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        assert key.exchange_id == "binance", f"tests must not reach {key.exchange_id}"
        connector = CountingConnector(
            key.exchange_id,
            credentials,
            budget=budgets.budget_for(
                key.exchange_id,
                credential_key(credentials.api_key if credentials else None),
                budget_spec_for(key.exchange_id),
            ),
            timeout_ms=CLIENT_TIMEOUT_MS,
            retry_policy=FAST_RETRY,
            api_urls=urls,
        )
        connector.loads = state.loads
        connector._exchange.timeout_on_exit = 0
        return connector

    original: ConnectorPool = app.state.connector_pool
    pool = ConnectorPool(build)
    app.state.connector_pool = pool
    await original.close_all()
    cache = MarketDataCache(
        SharedCache(None, "offline:", clock=state.clock),
        failure_ttl_seconds=FAILURE_TTL,
        clock=state.clock,
    )
    app.state.market_data_cache = cache
    app.state.market_rules_provider = exchange_market_rules(pool, cache)
    app.state.backtest_queue = QueueRecorder()
    yield state


def doge_grid() -> dict[str, Any]:
    body = grid_body(symbol="DOGE/USDT", name="doge grid")
    body["paper"] = {"price_source": "live", "balances": {"USDT": "1000"}}
    body["config"] = {
        "lower_price": "0.15",
        "upper_price": "0.25",
        "grid_count": 10,
        "spacing": "arithmetic",
        "investment": "500",
        "direction": "long",
    }
    return body


def assert_unknown_symbol(response: httpx.Response, symbol: str) -> None:
    assert_error_shape(response, 422, "invalid")
    error = response.json()["error"]
    assert symbol in error["message"]
    assert error["details"][0]["loc"] == ["body", "symbol"]


async def test_offline_creates_answer_from_the_builtin_list_without_asking_again(
    offline: Offline, client: httpx.AsyncClient, user: ApiUser
) -> None:
    assert "DOGE/USDT" not in BINANCE_SPOT_RULES

    created = await client.post(BOTS, json=grid_body(), headers=user.headers)
    assert created.status_code == 201, created.text
    assert len(offline.loads) == 1  # the exchange was tried once (with the connector's retries)

    assert_unknown_symbol(
        await client.post(BOTS, json=doge_grid(), headers=user.headers), "DOGE/USDT"
    )
    queued = await client.post(BACKTESTS, json=BACKTEST_BODY, headers=user.headers)
    assert queued.status_code == 202, queued.text
    unknown = {**BACKTEST_BODY, "symbol": "DOGE/USDT"}
    assert_unknown_symbol(
        await client.post(BACKTESTS, json=unknown, headers=user.headers), "DOGE/USDT"
    )
    assert len(offline.loads) == 1  # nobody waited on the network again within the TTL

    # The exchange comes back with a market the built-in list does not have.
    async with BinanceSimulator(port=offline.port, symbols=(*DEFAULT_SYMBOLS, DOGE)) as sim:
        assert_unknown_symbol(
            await client.post(BOTS, json=doge_grid(), headers=user.headers), "DOGE/USDT"
        )
        assert len(offline.loads) == 1 and sim.request_log(path="/api/v3/exchangeInfo") == []

        offline.clock.now += FAILURE_TTL + 1
        created = await client.post(BOTS, json=doge_grid(), headers=user.headers)
        assert created.status_code == 201, created.text
        assert len(offline.loads) == 2
        assert len(sim.request_log(path="/api/v3/exchangeInfo")) == 1

        # From now on the exchange's own list answers, cached: still no second load.
        assert_unknown_symbol(
            await client.post(BOTS, json=grid_body(symbol="NOPE/USDT"), headers=user.headers),
            "NOPE/USDT",
        )
        assert len(offline.loads) == 2
