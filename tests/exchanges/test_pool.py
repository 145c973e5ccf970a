"""ConnectorPool: one connector per credential version, replaced on rotation, closed on shutdown."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.exchanges.pool import ConnectorKey, ConnectorPool, ccxt_factory
from autogrid.exchanges.types import ApiCredentials
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import CREDENTIALS, sim_api_urls


class FakeConnector:
    def __init__(self, key: ConnectorKey) -> None:
        self.exchange_id = key.exchange_id
        self.key = key
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def fake_pool() -> tuple[ConnectorPool, list[FakeConnector]]:
    built: list[FakeConnector] = []

    def factory(key: ConnectorKey, credentials: ApiCredentials | None) -> FakeConnector:
        built.append(FakeConnector(key))
        return built[-1]

    return ConnectorPool(factory), built  # type: ignore[arg-type]


async def test_connectors_are_reused_per_credential_version() -> None:
    pool, built = fake_pool()
    first = await pool.get(
        "binance", credential_id="c1", credential_version="1", credentials=CREDENTIALS
    )
    again = await pool.get(
        "binance", credential_id="c1", credential_version="1", credentials=CREDENTIALS
    )
    other = await pool.get(
        "binance", credential_id="c2", credential_version="1", credentials=CREDENTIALS
    )
    testnet = await pool.get(
        "binance", credential_id="c1", credential_version="1", credentials=CREDENTIALS, sandbox=True
    )
    public = await pool.public("binance")
    assert first is again
    assert len({id(first), id(other), id(testnet), id(public)}) == 4
    assert len(built) == len(pool) == 4
    assert await pool.public("binance") is public


async def test_a_new_version_replaces_and_closes_the_old_one() -> None:
    pool, built = fake_pool()
    old = await pool.get(
        "binance", credential_id="c1", credential_version="1", credentials=CREDENTIALS
    )
    new = await pool.get(
        "binance", credential_id="c1", credential_version="2", credentials=CREDENTIALS
    )
    assert old is not new and built[0].closed and not built[1].closed
    assert len(pool) == 1


async def test_discard_and_close_all() -> None:
    pool, built = fake_pool()
    await pool.get("binance", credential_id="c1", credential_version="1", credentials=CREDENTIALS)
    await pool.get("okx", credential_id="c2", credential_version="1", credentials=CREDENTIALS)
    await pool.public("kraken")
    await pool.discard("binance", "c1")
    assert [c.closed for c in built] == [True, False, False]
    await pool.close_all()
    assert all(c.closed for c in built) and len(pool) == 0
    with pytest.raises(RuntimeError, match="closed"):
        await pool.public("kraken")


async def test_credentials_and_their_id_go_together() -> None:
    pool, _ = fake_pool()
    with pytest.raises(ValueError):
        await pool.get("binance", credential_id="c1")
    with pytest.raises(ValueError):
        await pool.get("binance", credentials=CREDENTIALS)


async def test_the_ccxt_factory_builds_working_connectors(sim: BinanceSimulator) -> None:
    budgets = MemoryBudgets()
    pool = ConnectorPool(
        ccxt_factory(budgets, timeout_ms=2000, api_urls={"binance": sim_api_urls(sim.url)})
    )
    connector = await pool.get(
        "binance", credential_id="c1", credential_version="1", credentials=CREDENTIALS
    )
    assert isinstance(connector, CcxtConnector)
    assert (await connector.fetch_balance())["USDT"].total == Decimal("10000")
    public = await pool.public("binance")
    assert (await public.fetch_ticker("BTC/USDT")).last == Decimal("100000")
    exchange = connector._exchange
    assert exchange.session is not None  # an open HTTP session...
    await pool.close_all()
    assert exchange.session is None  # ...closed on shutdown
