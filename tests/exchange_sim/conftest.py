"""Fixtures: a fresh in-process simulator and a real ccxt binance client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ccxt.async_support as ccxt_async
import pytest

from tests.exchange_sim import BinanceSimulator, make_ccxt_binance

# Short enough that a 'delay' fault of CLIENT_TIMEOUT_MS * 2 keeps each test well under a second.
CLIENT_TIMEOUT_MS = 400


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator() as simulator:
        yield simulator


@pytest.fixture
async def exchange(sim: BinanceSimulator) -> AsyncIterator[ccxt_async.binance]:
    client = make_ccxt_binance(sim.url, timeout_ms=CLIENT_TIMEOUT_MS)
    await client.load_markets()
    try:
        yield client
    finally:
        await client.close()
