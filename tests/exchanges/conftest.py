"""Fixtures: the Binance simulator and CcxtConnectors (real ccxt) pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
import pytest

from autogrid.exchanges.budget import MemoryBudgets, RequestBudget
from autogrid.exchanges.ccxt import CcxtConnector, budget_spec_for
from autogrid.exchanges.retry import RetryPolicy
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import ApiCredentials, OrderRequest, OrderType, Side
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceSimulator

CLIENT_TIMEOUT_MS = 400  # a 'delay' fault of 0.8 s times out; each test stays well under a second
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_elapsed=5)
CREDENTIALS = ApiCredentials(api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET)


def sim_api_urls(sim_url: str) -> dict[str, str]:
    """Every Binance REST base URL rebased onto the simulator (host swapped, path kept)."""
    target = urlsplit(sim_url)
    urls: dict[str, Any] = ccxt.binance().urls["api"]
    return {
        name: urlunsplit((target.scheme, target.netloc, *urlsplit(url)[2:]))
        for name, url in urls.items()
        if isinstance(url, str) and url.startswith("http")
    }


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator() as simulator:
        yield simulator


ConnectorMaker = Callable[..., CcxtConnector]


@pytest.fixture
async def make_connector(sim: BinanceSimulator) -> AsyncIterator[ConnectorMaker]:
    """Build connectors to the simulator; all are closed after the test."""
    made: list[CcxtConnector] = []
    budgets = MemoryBudgets()

    def make(
        credentials: ApiCredentials | None = CREDENTIALS,
        *,
        budget: RequestBudget | None = None,
        retry_policy: RetryPolicy = FAST_RETRY,
        timeout_ms: int = CLIENT_TIMEOUT_MS,
        **kwargs: Any,
    ) -> CcxtConnector:
        if budget is None:
            budget = budgets.budget_for("binance", "test", budget_spec_for("binance"))
        connector = CcxtConnector(
            "binance",
            credentials,
            budget=budget,
            timeout_ms=timeout_ms,
            retry_policy=retry_policy,
            api_urls=sim_api_urls(sim.url),
            **kwargs,
        )
        # ccxt sleeps 250 ms in close() for TLS shutdown; the simulator speaks plain HTTP.
        connector._exchange.timeout_on_exit = 0
        made.append(connector)
        return connector

    yield make
    for connector in made:
        await connector.close()


@pytest.fixture
async def connector(make_connector: ConnectorMaker) -> CcxtConnector:
    return make_connector()


class OrderIds:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"ag-test-{self.count}"


@pytest.fixture
def new_cid() -> Iterator[OrderIds]:
    yield OrderIds()


async def limit_order(
    connector: CcxtConnector,
    cid: str,
    side: Side = Side.BUY,
    amount: str = "0.001",
    price: str = "90000",
    symbol: str = "BTC/USDT",
) -> OrderRequest:
    rules = await connector.market(symbol)
    return prepare_order(rules, side, OrderType.LIMIT, Decimal(amount), Decimal(price), cid)


async def market_order(
    connector: CcxtConnector,
    cid: str,
    side: Side = Side.BUY,
    amount: str = "0.001",
    reference: str = "100000",
    symbol: str = "BTC/USDT",
) -> OrderRequest:
    rules = await connector.market(symbol)
    return prepare_order(
        rules,
        side,
        OrderType.MARKET,
        Decimal(amount),
        None,
        cid,
        reference_price=Decimal(reference),
    )
