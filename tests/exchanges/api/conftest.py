"""Fixtures: the app with its public connectors pointed at the Binance simulator (real ccxt)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.budget import MemoryBudgets, RequestBudgets, credential_key
from autogrid.exchanges.ccxt import CcxtConnector, budget_spec_for
from autogrid.exchanges.pool import ConnectorFactory, ConnectorKey, ConnectorPool
from autogrid.exchanges.types import ApiCredentials
from tests.exchange_sim import DEFAULT_SYMBOLS, BinanceSimulator, RequestRecord, SymbolSpec
from tests.exchanges.conftest import CLIENT_TIMEOUT_MS, FAST_RETRY, sim_api_urls

ETH_BTC = SymbolSpec(
    base="ETH",
    quote="BTC",
    tick_size=Decimal("0.00001"),
    step_size=Decimal("0.0001"),
    min_qty=Decimal("0.0001"),
    initial_price=Decimal("0.025"),
    min_price=Decimal("0.00001"),
    min_notional=Decimal("0.0001"),
)
KLINE_PATHS = ("/api/v3/klines", "/api/v3/uiKlines")


def sim_connector_factory(
    base_url: str,
    budgets: RequestBudgets,
    *,
    connector_class: type[CcxtConnector] = CcxtConnector,
    timeout_ms: int = CLIENT_TIMEOUT_MS,
    configure: Callable[[CcxtConnector], None] | None = None,
) -> ConnectorFactory:
    """Real ccxt connectors for binance whose REST base URLs point at ``base_url``; any other
    exchange is refused, so no test can reach the internet by accident. ``configure`` sees each
    connector as it is built (a subclass's counters, say)."""
    urls = sim_api_urls(base_url)

    def build(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        assert key.exchange_id == "binance", f"tests must not reach {key.exchange_id}"
        connector = connector_class(
            key.exchange_id,
            credentials,
            budget=budgets.budget_for(
                key.exchange_id,
                credential_key(credentials.api_key if credentials else None),
                budget_spec_for(key.exchange_id),
            ),
            timeout_ms=timeout_ms,
            retry_policy=FAST_RETRY,
            api_urls=urls,
        )
        connector._exchange.timeout_on_exit = 0  # no 250 ms TLS linger: the simulator is HTTP
        if configure is not None:
            configure(connector)
        return connector

    return build


def simulator_factory(sim: BinanceSimulator, budgets: RequestBudgets) -> ConnectorFactory:
    """Real CcxtConnectors for binance talking to the simulator."""
    return sim_connector_factory(sim.url, budgets)


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    """BTC/USDT (with 5,000 real 1m candles from 2025-05-20), ETH/USDT and ETH/BTC."""
    async with BinanceSimulator(symbols=(*DEFAULT_SYMBOLS, ETH_BTC)) as simulator:
        yield simulator


@pytest.fixture
async def sim_app(app: FastAPI, sim: BinanceSimulator) -> FastAPI:
    """The app, its public connectors talking to the simulator (the lifespan closes them)."""
    original: ConnectorPool = app.state.connector_pool
    app.state.connector_pool = ConnectorPool(simulator_factory(sim, MemoryBudgets()))
    await original.close_all()
    return app


@pytest.fixture
async def api(sim_app: FastAPI, client: httpx.AsyncClient) -> httpx.AsyncClient:
    return client


def exchange_requests(sim: BinanceSimulator, *paths: str) -> list[RequestRecord]:
    """What reached the simulator on these paths (all exchange paths when none are given)."""
    return [r for r in sim.requests if not paths or r.path in paths]


def kline_requests(sim: BinanceSimulator) -> list[RequestRecord]:
    return exchange_requests(sim, *KLINE_PATHS)
