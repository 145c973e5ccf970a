"""Fixtures for the engine, execution and scheduling tests (each of their conftest.py imports them):
the in-process Binance simulator, real ccxt connectors to it, a bot row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.exchanges.instrumented import InstrumentedConnector
from autogrid.execution.order_manager import OrderManager
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceSimulator
from tests.exchanges.conftest import CREDENTIALS, sim_api_urls
from tests.support.contexts import TEST_POLICY, runtime_context, simulator_connector
from tests.support.factories import (
    Clock,
    LiveAccount,
    bot_ref,
    make_bot,
    make_credential,
    make_user,
)

CLIENT_TIMEOUT_MS = 500


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator() as simulator:
        yield simulator


ConnectorMaker = Callable[[], InstrumentedConnector]


@pytest.fixture
def client_timeout_ms() -> int:
    """The connectors' client timeout: short, so that a 'delay' fault times out. A module that
    counts the simulator's requests and injects no delay overrides it with a long one (a read
    retried after a timeout on a loaded machine is one request more than it expects)."""
    return CLIENT_TIMEOUT_MS


@pytest.fixture
async def make_connector(
    sim: BinanceSimulator, client_timeout_ms: int
) -> AsyncIterator[ConnectorMaker]:
    made: list[CcxtConnector] = []
    budgets = MemoryBudgets()
    api_urls = sim_api_urls(sim.url)

    def make() -> InstrumentedConnector:
        connector = simulator_connector(
            api_urls, "binance", CREDENTIALS, budgets, timeout_ms=client_timeout_ms
        )
        made.append(connector)
        return InstrumentedConnector(connector)

    yield make
    for connector in made:
        await connector.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def user_id(db: Database) -> uuid.UUID:
    return await make_user(db)


@pytest.fixture
async def bot_id(db: Database, user_id: uuid.UUID) -> uuid.UUID:
    return await make_bot(db, user_id)


@pytest.fixture
def manager(
    db: Database,
    make_connector: ConnectorMaker,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
    clock: Clock,
) -> OrderManager:
    return OrderManager(
        db, make_connector(), bot_ref(bot_id, user_id), policy=TEST_POLICY, clock=clock
    )


@pytest.fixture
async def ctx(
    settings: Settings, db: Database, clock: Clock, sim: BinanceSimulator
) -> AsyncIterator[RuntimeContext]:
    """A runtime context trading on the in-process simulator."""
    context = runtime_context(settings, db, clock, sim_url=sim.url)
    yield context
    await context.close()


@pytest.fixture
async def credential_id(settings: Settings, db: Database, user_id: uuid.UUID) -> uuid.UUID:
    """The simulator's default (funded) account, stored as the user's credential."""
    return await make_credential(db, settings, user_id, DEFAULT_API_KEY, DEFAULT_SECRET)


@pytest.fixture
def live(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> LiveAccount:
    """A live bot's starting point: the runtime on the simulator, a user and its credential."""
    return LiveAccount(ctx, db, sim, user_id, credential_id)
