"""Fixtures: the app reading keys' balances and public tickers from the Binance simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.pool import ConnectorPool
from tests.credentials.conftest import simulator_factory
from tests.exchange_sim import BinanceSimulator


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator() as simulator:
        yield simulator


@pytest.fixture
async def sim_app(app: FastAPI, sim: BinanceSimulator) -> FastAPI:
    """Signed reads (a key's balances) and public reads (tickers) both go to the simulator."""
    budgets = MemoryBudgets()
    app.state.connector_factory = simulator_factory(sim, budgets)
    original: ConnectorPool = app.state.connector_pool
    app.state.connector_pool = ConnectorPool(simulator_factory(sim, budgets))
    await original.close_all()
    return app
