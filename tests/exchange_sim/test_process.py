"""The simulator as a separate process, driven through its HTTP control API."""

from __future__ import annotations

import urllib.error
import urllib.request
from decimal import Decimal

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from tests.exchange_sim import (
    BinanceSimulator,
    SimulatorControlError,
    SimulatorProcess,
    make_ccxt_binance,
)

BTC = "BTC/USDT"


async def test_one_order_through_a_simulator_process() -> None:
    with SimulatorProcess(args=["--no-default-candles"]) as proc:
        control = proc.client
        control.add_account(
            "proc-key", "proc-secret", {"USDT": "1000"}, {"enableWithdrawals": False}
        )
        control.set_price(BTC, 50000)
        exchange = make_ccxt_binance(proc.url, "proc-key", "proc-secret")
        try:
            order = await exchange.create_order(
                BTC, "limit", "buy", 0.01, 49000, {"clientOrderId": "p-1"}
            )
            assert order["status"] == "open"
            assert control.balances("proc-key")["USDT"] == {"free": "510", "locked": "490"}

            control.set_price_path(BTC, [49500, 48000])
            assert control.step_price(BTC) == []
            [fill] = control.step_price(BTC)
            assert (fill["price"], fill["qty"], fill["apiKey"]) == (
                "49000.00000000",
                "0.01000000",
                "proc-key",
            )
            [snapshot] = control.orders(client_order_id="p-1")
            assert snapshot["status"] == "FILLED" and snapshot["tradeIds"] == [fill["id"]]
            assert (await exchange.fetch_order(order["id"], BTC))["status"] == "closed"
            assert control.create_request_counts() == {"p-1": 1}

            control.inject_fault("rate_limit", "POST /api/v3/order", retry_after=2)
            with pytest.raises(ccxt_async.DDoSProtection):
                await exchange.create_order(BTC, "market", "buy", 0.001)
            assert control.request_log("POST", "/api/v3/order")[-1]["status"] == 429

            with pytest.raises(SimulatorControlError, match="KeyError"):
                control.fill_order(order_id=999)
            control.reset()
            assert control.orders() == [] and control.trades() == []
        finally:
            await exchange.close()
    assert proc.process is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(proc.url + "/__sim/health", timeout=1)


async def test_control_api_is_served_in_process_too(sim: BinanceSimulator) -> None:
    """The same operations over HTTP on an in-process simulator (use aiohttp there: the
    blocking SimulatorClient would stall the event loop the simulator runs on)."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sim.url + "/__sim/set_price", json={"symbol": "ETHUSDT", "price": "2750.5"}
        ) as response:
            assert response.status == 200 and await response.json() == {"result": []}
        async with session.get(sim.url + "/__sim/price", params={"symbol": "ETH/USDT"}) as response:
            assert (await response.json())["result"] == "2750.5"
        async with session.post(sim.url + "/__sim/exchange", json={}) as response:
            assert response.status == 404  # only whitelisted operations are reachable
        async with session.post(sim.url + "/__sim/set_price", json={"symbol": "XX"}) as response:
            assert response.status == 400 and "TypeError" in (await response.json())["error"]
    assert sim.price("ETH/USDT") == Decimal("2750.5")
    assert sim.requests == []  # control calls are not part of the exchange request log
