"""Creating bots and backtests while the exchange is unreachable.

The exchange's base URL points at a closed local port. Its market list fails to load once, in
one attempt (no retries with backoff while a user waits); for a short while after, creates
neither wait on the network nor try it again, and a symbol that the list known offline (the
built-in one here) lacks is a 422 naming it. Once the exchange answers again and that while has
passed, its real list is used: a market only it lists is accepted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.exchanges.ccxt.error_mapping import Operation
from autogrid.exchanges.market_data_cache import (
    DEFAULT_MARKETS_LOAD_WAIT_SECONDS,
    MarketDataCache,
    SharedCache,
)
from autogrid.exchanges.paper.markets import BINANCE_SPOT_RULES
from autogrid.exchanges.pool import ConnectorPool
from autogrid.exchanges.rules_provider import exchange_market_rules
from tests.bots.factories import BOTS, grid_body
from tests.exchange_sim import DEFAULT_SYMBOLS, BinanceSimulator, SymbolSpec
from tests.exchanges.api.conftest import sim_connector_factory
from tests.exchanges.conftest import CLIENT_TIMEOUT_MS
from tests.helpers import ApiUser, assert_error_shape
from tests.worker.processes import free_port

T = TypeVar("T")
BACKTESTS = "/api/v1/backtests"
MARKETS = "/api/v1/exchanges/binance/markets"
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
    """The real ccxt connector; records every attempt it makes to reach the exchange."""

    attempts: list[str]

    async def _call(self, operation: Operation, what: str, call: Callable[[], Awaitable[T]]) -> T:
        self.attempts.append(what)
        return await super()._call(operation, what, call)


class Maintenance:
    """The exchange's host in maintenance: every request on ``port`` gets a bare 503, at once or
    (``held``) only once ``release()`` is called.

    It counts requests, what reaches the exchange. (A host that drops connections unanswered
    would count double: aiohttp itself resends an idempotent request once on a dropped
    connection, with no delay; the closed port is counted through the connector instead.)
    """

    def __init__(self, port: int, *, held: bool = False) -> None:
        self.port = port
        self.requests = 0
        self.answered = 0
        self.abandoned = 0
        self._released = asyncio.Event()
        if not held:
            self._released.set()

    def release(self) -> None:
        self._released.set()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            released = asyncio.ensure_future(self._released.wait())
            hung_up = asyncio.ensure_future(reader.read(1))  # b"" once the client closes
            await asyncio.wait((released, hung_up), return_when=asyncio.FIRST_COMPLETED)
            released.cancel()
            hung_up.cancel()
            if not self._released.is_set():
                self.abandoned += 1  # the client gave up waiting before any answer
                return
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            self.answered += 1
        finally:
            writer.close()

    async def __aenter__(self) -> Maintenance:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        self._server.close()
        await self._server.wait_closed()


@dataclass
class Offline:
    port: int
    clock: Clock
    attempts: list[str] = field(default_factory=list)


@dataclass
class QueueRecorder:
    sent: list[uuid.UUID] = field(default_factory=list)

    def send(self, backtest_ids: Sequence[uuid.UUID]) -> None:
        self.sent.extend(backtest_ids)


async def install(
    app: FastAPI,
    state: Offline,
    *,
    timeout_ms: int = CLIENT_TIMEOUT_MS,
    load_wait: float = DEFAULT_MARKETS_LOAD_WAIT_SECONDS,
) -> MarketDataCache:
    """Point the app's market rules at binance on ``state.port``, through counting connectors."""

    def count_into_state(connector: CcxtConnector) -> None:
        assert isinstance(connector, CountingConnector)
        connector.attempts = state.attempts

    build = sim_connector_factory(
        f"http://127.0.0.1:{state.port}",
        MemoryBudgets(),
        connector_class=CountingConnector,
        timeout_ms=timeout_ms,
        configure=count_into_state,
    )
    original: ConnectorPool = app.state.connector_pool
    pool = ConnectorPool(build)
    app.state.connector_pool = pool
    await original.close_all()
    cache = MarketDataCache(
        SharedCache(None, "offline:", clock=state.clock),
        failure_ttl_seconds=FAILURE_TTL,
        load_wait_seconds=load_wait,
        clock=state.clock,
    )
    app.state.market_data_cache = cache
    app.state.market_rules_provider = exchange_market_rules(pool, cache)
    return cache


@pytest.fixture
async def offline(app: FastAPI) -> AsyncIterator[Offline]:
    """The app's market rules come from binance at a port nobody listens on (yet)."""
    state = Offline(port=free_port(), clock=Clock())
    await install(app, state)
    app.state.backtest_queue = QueueRecorder()
    yield state


def live_grid(**changes: Any) -> dict[str, Any]:
    """A paper bot on live prices: a replay would also need its candles stored."""
    body = grid_body(**changes)
    body["paper"] = {"price_source": "live", "balances": {"USDT": "10000"}}
    return body


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

    created = await client.post(BOTS, json=live_grid(), headers=user.headers)
    assert created.status_code == 201, created.text
    # One attempt at the closed port, not the connector's retries with backoff, then the fallback.
    assert offline.attempts == ["load_markets"]

    assert_unknown_symbol(
        await client.post(BOTS, json=doge_grid(), headers=user.headers), "DOGE/USDT"
    )
    queued = await client.post(BACKTESTS, json=BACKTEST_BODY, headers=user.headers)
    assert queued.status_code == 202, queued.text
    unknown = {**BACKTEST_BODY, "symbol": "DOGE/USDT"}
    assert_unknown_symbol(
        await client.post(BACKTESTS, json=unknown, headers=user.headers), "DOGE/USDT"
    )
    assert len(offline.attempts) == 1  # nobody waited on the network again within the TTL

    # The exchange comes back with a market the built-in list does not have.
    async with BinanceSimulator(port=offline.port, symbols=(*DEFAULT_SYMBOLS, DOGE)) as sim:
        assert_unknown_symbol(
            await client.post(BOTS, json=doge_grid(), headers=user.headers), "DOGE/USDT"
        )
        assert len(offline.attempts) == 1 and sim.request_log(path="/api/v3/exchangeInfo") == []

        offline.clock.now += FAILURE_TTL + 1
        created = await client.post(BOTS, json=doge_grid(), headers=user.headers)
        assert created.status_code == 201, created.text
        assert len(offline.attempts) == 2
        assert len(sim.request_log(path="/api/v3/exchangeInfo")) == 1

        # From now on the exchange's own list answers, cached: still no second load.
        assert_unknown_symbol(
            await client.post(BOTS, json=live_grid(symbol="NOPE/USDT"), headers=user.headers),
            "NOPE/USDT",
        )
        assert len(offline.attempts) == 2


async def test_a_create_during_maintenance_asks_the_exchange_once_then_uses_the_fallback(
    offline: Offline, client: httpx.AsyncClient, user: ApiUser
) -> None:
    async with Maintenance(offline.port) as exchange:
        created = await client.post(BOTS, json=live_grid(), headers=user.headers)
        assert created.status_code == 201, created.text  # validated with the built-in rules
        assert exchange.requests == 1
        assert offline.attempts == ["load_markets"]

        queued = await client.post(BACKTESTS, json=BACKTEST_BODY, headers=user.headers)
        assert queued.status_code == 202, queued.text
        unavailable = await client.get(MARKETS, headers=user.headers)
        assert_error_shape(unavailable, 503, "exchange_unavailable")
        assert exchange.requests == 1  # within the failure TTL nobody tries again

        # Once it has passed, the next create tries again, once.
        offline.clock.now += FAILURE_TTL + 1
        created = await client.post(BOTS, json=live_grid(), headers=user.headers)
        assert created.status_code == 201, created.text
        assert exchange.requests == 2
        assert offline.attempts == ["load_markets", "load_markets"]


async def test_the_markets_api_during_maintenance_asks_the_exchange_once(
    offline: Offline, client: httpx.AsyncClient, user: ApiUser
) -> None:
    async with Maintenance(offline.port) as exchange:
        unavailable = await client.get(MARKETS, headers=user.headers)
        assert_error_shape(unavailable, 503, "exchange_unavailable")
        assert exchange.requests == 1
        assert offline.attempts == ["load_markets"]


async def test_a_create_does_not_wait_for_an_exchange_that_does_not_answer(
    app: FastAPI, offline: Offline, client: httpx.AsyncClient, user: ApiUser
) -> None:
    # The exchange takes the request and says nothing until told; ccxt would wait 30 s.
    cache = await install(app, offline, timeout_ms=30_000, load_wait=0.5)
    async with Maintenance(offline.port, held=True) as exchange:
        created = await client.post(BOTS, json=live_grid(), headers=user.headers)
        assert created.status_code == 201, created.text  # validated with the built-in rules

        # The load goes on in the background, still connected: the exchange's late answer
        # reaches it, and its failure is remembered (after one request, not one per retry).
        exchange.release()
        async with asyncio.timeout(60):
            while await cache.store.get("markets-failed:binance") is None:
                await asyncio.sleep(0.05)
        assert (exchange.requests, exchange.answered, exchange.abandoned) == (1, 1, 0)
        assert offline.attempts == ["load_markets"]
