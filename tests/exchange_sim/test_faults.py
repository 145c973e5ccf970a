"""Injected faults and the ccxt exception each one becomes (the connector's contract)."""

from __future__ import annotations

import asyncio

import ccxt.async_support as ccxt_async
import pytest

from tests.exchange_sim import BinanceSimulator, Fault
from tests.exchange_sim.conftest import CLIENT_TIMEOUT_MS

BTC = "BTC/USDT"
ORDER = "POST /api/v3/order"
SLOW = CLIENT_TIMEOUT_MS / 1000 * 2  # seconds: twice the client timeout


async def test_slow_answer_times_out_but_the_order_exists(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("delay", ORDER, seconds=SLOW)
    with pytest.raises(ccxt_async.RequestTimeout):
        await exchange.create_order(BTC, "limit", "buy", 0.01, 90000, {"clientOrderId": "slow"})
    # "Unknown", never "failed": resolving by client id finds the order.
    found = await exchange.fetch_order(None, BTC, {"clientOrderId": "slow"})
    assert found["status"] == "open"


async def test_late_execution_is_not_found_first_then_appears(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("delay", ORDER, seconds=SLOW * 1.5, delay_before_execute=True)
    with pytest.raises(ccxt_async.RequestTimeout):
        await exchange.create_order(BTC, "market", "buy", 0.001, None, {"clientOrderId": "late"})
    with pytest.raises(ccxt_async.OrderNotFound):
        await exchange.fetch_order(None, BTC, {"clientOrderId": "late"})
    await asyncio.sleep(SLOW)  # the order is executed 1.5 * SLOW after it was sent
    assert (await exchange.fetch_order(None, BTC, {"clientOrderId": "late"}))["status"] == "closed"


async def test_dropped_connection_after_a_filled_market_order(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("accepted_response_lost", ORDER)
    with pytest.raises(ccxt_async.ExchangeNotAvailable) as caught:
        await exchange.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "lost"})
    assert isinstance(caught.value, ccxt_async.NetworkError)
    assert [o.status for o in sim.orders(client_order_id="lost")] == ["FILLED"]
    assert sim.create_request_counts() == {"lost": 1}  # aiohttp never resends a POST
    resolved = await exchange.fetch_order(None, BTC, {"clientOrderId": "lost"})
    assert resolved["status"] == "closed" and resolved["filled"] == 0.01


async def test_lost_response_as_bodiless_504_is_request_timeout(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("accepted_response_lost", ORDER, lost_as="504")
    with pytest.raises(ccxt_async.RequestTimeout):
        await exchange.create_order(BTC, "limit", "sell", 0.01, 110000, {"clientOrderId": "504"})
    assert sim.orders(client_order_id="504")[0].status == "NEW"


async def test_lost_cancel_answer_is_resent_by_aiohttp_and_reads_as_not_found(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    """aiohttp silently retries idempotent methods (GET, DELETE) once on a dropped
    connection: the retry of a cancel that worked answers -2011 Unknown order."""
    order = await exchange.create_order(BTC, "limit", "buy", 0.01, 90000)
    sim.inject_fault("accepted_response_lost", "DELETE /api/v3/order")
    with pytest.raises(ccxt_async.OrderNotFound):
        await exchange.cancel_order(order["id"], BTC)
    assert [r.code for r in sim.request_log("DELETE", "/api/v3/order")] == [None, -2011]
    assert sim.orders()[0].status == "CANCELED"


async def test_lost_read_answers_are_retried_once_by_aiohttp(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("accepted_response_lost", "GET /api/v3/account")
    await exchange.fetch_balance()  # the automatic resend succeeds
    sim.inject_fault("accepted_response_lost", "GET /api/v3/account", times=2)
    with pytest.raises(ccxt_async.ExchangeNotAvailable):
        await exchange.fetch_balance()
    assert len(sim.request_log("GET", "/api/v3/account")) == 4


@pytest.mark.parametrize(("kind", "status"), [("rate_limit", 429), ("ip_ban", 418)])
async def test_rate_limit_and_ban_are_ddos_protection_with_retry_after(
    sim: BinanceSimulator, exchange: ccxt_async.binance, kind: str, status: int
) -> None:
    sim.inject_fault(kind, ORDER, retry_after=7)
    # ccxt checks the HTTP status first: 429 and 418 both become DDoSProtection, never
    # RateLimitExceeded (that is only for -1003/-1015 bodies under other statuses).
    with pytest.raises(ccxt_async.DDoSProtection, match="-1003") as caught:
        await exchange.create_order(BTC, "market", "buy", 0.001)
    assert not isinstance(caught.value, ccxt_async.RateLimitExceeded)
    assert exchange.last_response_headers["Retry-After"] == "7"
    assert sim.request_log()[-1].status == status
    assert sim.orders() == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_exchange_not_available(
    sim: BinanceSimulator, exchange: ccxt_async.binance, status: int
) -> None:
    sim.inject_fault("http_error", ORDER, status=status)
    with pytest.raises(ccxt_async.ExchangeNotAvailable):
        await exchange.create_order(BTC, "market", "buy", 0.001)
    assert sim.orders() == []


async def test_server_error_after_execution_leaves_the_order_in_place(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("http_error", ORDER, status=503, execute=True)
    with pytest.raises(ccxt_async.ExchangeNotAvailable):
        await exchange.create_order(BTC, "market", "buy", 0.001, None, {"clientOrderId": "5xx"})
    assert sim.orders(client_order_id="5xx")[0].status == "FILLED"


async def test_timestamp_fault_is_invalid_nonce(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("timestamp", ORDER)
    with pytest.raises(ccxt_async.InvalidNonce, match="-1021"):
        await exchange.create_order(BTC, "market", "buy", 0.001)
    assert sim.orders() == []


async def test_fault_scope_count_and_clearing(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.inject_fault("http_error", "/api/v3/account", times=2)  # any method on that path
    await exchange.fetch_ticker(BTC)  # other endpoints are unaffected
    for _ in range(2):
        with pytest.raises(ccxt_async.ExchangeNotAvailable):
            await exchange.fetch_balance()
    await exchange.fetch_balance()
    sticky = sim.inject_fault("rate_limit", times=None)  # every endpoint, until cleared
    for _ in range(3):
        with pytest.raises(ccxt_async.DDoSProtection):
            await exchange.fetch_ticker(BTC)
    assert sticky.hits == 3 and sim.active_faults() == [sticky]
    assert sim.clear_faults() == 1
    await exchange.fetch_ticker(BTC)
    faulted = [r.fault for r in sim.requests if r.fault]
    assert faulted == ["http_error"] * 2 + ["rate_limit"] * 3


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind="gremlins")  # type: ignore[arg-type]
    assert Fault(kind="delay").execute is True
    assert Fault(kind="http_error").execute is False
    assert Fault(kind="rate_limit", endpoint="GET /api/v3/depth").matches("GET", "/api/v3/depth")
    assert not Fault(kind="rate_limit", endpoint="GET /api/v3/depth").matches(
        "POST", "/api/v3/depth"
    )


async def test_any_binance_error_answer_can_be_injected(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    """-1015 TOO_MANY_ORDERS comes as 429 with Retry-After; the request is not executed."""
    sim.inject_fault(
        "binance_error", ORDER, status=429, code=-1015, msg="Too many new orders.", retry_after=2
    )
    with pytest.raises(ccxt_async.DDoSProtection):
        await exchange.create_order(BTC, "limit", "buy", 0.01, 90000, {"clientOrderId": "many"})
    [record] = sim.request_log("POST", "/api/v3/order")
    assert (record.status, record.code) == (429, -1015)
    assert sim.orders(client_order_id="many") == []
