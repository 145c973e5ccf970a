"""Every simulated Binance failure maps to the right class; creates are never sent twice."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from autogrid.exchanges import errors as ours
from autogrid.exchanges.budget import BudgetSpec, MemoryBudgets, RedisBudgets, RequestBudget
from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.exchanges.retry import RetryPolicy
from autogrid.exchanges.types import ApiCredentials, ExchangeOrderStatus
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceSimulator
from tests.exchanges.conftest import ConnectorMaker, OrderIds, limit_order, market_order

ORDER = "POST /api/v3/order"
SLOW = 0.8  # seconds: twice the client timeout

# ----------------------------------------------------------------------------- creates


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "accepted_response_lost", "lost_as": "disconnect"},
        {"kind": "accepted_response_lost", "lost_as": "504"},
        {"kind": "delay", "seconds": SLOW},
        {"kind": "http_error", "status": 503, "execute": True},
        {"kind": "http_error", "status": 500, "execute": True, "body": '{"code":-1001}'},
    ],
    ids=["disconnect", "504", "timeout", "503-executed", "500-executed"],
)
async def test_ambiguous_create_is_unknown_sent_once_and_found_by_client_id(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds, fault: dict[str, Any]
) -> None:
    cid = new_cid()
    request = await market_order(connector, cid)
    sim.inject_fault(endpoint=ORDER, **fault)
    with pytest.raises(ours.OrderOutcomeUnknown) as excinfo:
        await connector.create_order(request)
    assert cid in str(excinfo.value)
    assert sim.create_request_count(cid) == 1  # no blind retry, not by us, not by ccxt
    assert len(sim.orders(client_order_id=cid)) == 1
    found = await connector.fetch_order("BTC/USDT", client_order_id=cid)
    assert found is not None and found.client_order_id == cid
    assert found.status is ExchangeOrderStatus.CLOSED


async def test_an_unknown_order_may_appear_only_later(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    """Binance's eventual consistency: why resolving an UNKNOWN order needs a grace window."""
    cid = new_cid()
    request = await limit_order(connector, cid)
    sim.inject_fault("delay", endpoint=ORDER, seconds=SLOW, delay_before_execute=True)
    with pytest.raises(ours.OrderOutcomeUnknown):
        await connector.create_order(request)
    assert await connector.fetch_order("BTC/USDT", client_order_id=cid) is None  # not yet...
    await asyncio.sleep(SLOW)
    late = await connector.fetch_order("BTC/USDT", client_order_id=cid)  # ...but it exists
    assert late is not None and late.status is ExchangeOrderStatus.OPEN
    assert sim.create_request_count(cid) == 1


@pytest.mark.parametrize(
    "fault",
    [{"kind": "http_error", "status": 503}, {"kind": "http_error", "status": 500}],
    ids=["503-not-executed", "bare-500-not-executed"],
)
async def test_a_5xx_not_executed_is_still_unknown_and_resolves_to_nothing(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds, fault: dict[str, Any]
) -> None:
    """Binance: on a 5xx the execution status is unknown; resolving by client id shows none."""
    cid = new_cid()
    request = await limit_order(connector, cid)
    sim.inject_fault(endpoint=ORDER, **fault)
    with pytest.raises(ours.OrderOutcomeUnknown):
        await connector.create_order(request)
    assert sim.create_request_count(cid) == 1
    assert await connector.fetch_order("BTC/USDT", client_order_id=cid) is None


@pytest.mark.parametrize(
    ("fault", "expected", "retry_after"),
    [
        ({"kind": "rate_limit", "retry_after": 3}, ours.RateLimited, 3.0),
        ({"kind": "ip_ban", "retry_after": 4}, ours.RateLimited, 4.0),
        ({"kind": "timestamp"}, ours.ClockSkew, None),
    ],
    ids=["429", "418", "-1021"],
)
async def test_a_documented_refusal_of_a_create_is_refused_not_unknown(
    connector: CcxtConnector,
    sim: BinanceSimulator,
    new_cid: OrderIds,
    fault: dict[str, Any],
    expected: type,
    retry_after: float | None,
) -> None:
    """Binance's own words: 429/418 refuse the request, -1021 is outside recvWindow. Nothing was
    executed, so the create may be made again (under a new client id) after the wait."""
    cid = new_cid()
    request = await limit_order(connector, cid)
    sim.inject_fault(endpoint=ORDER, **fault)
    with pytest.raises(ours.RequestRefused) as excinfo:
        await connector.create_order(request)
    assert type(excinfo.value) is expected
    assert excinfo.value.retry_after == retry_after
    assert not isinstance(excinfo.value, ours.OrderOutcomeUnknown | ours.OrderRejected)
    assert sim.create_request_count(cid) == 1
    assert sim.orders(client_order_id=cid) == []


async def test_a_create_refused_for_the_clock_resyncs_and_the_next_one_is_accepted(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    request = await limit_order(connector, new_cid())
    sim.set_clock_offset(-20_000)  # our clock is 20 s ahead of the exchange's: a real -1021
    with pytest.raises(ours.ClockSkew):
        await connector.create_order(request)
    assert len(sim.request_log("GET", "/api/v3/time")) == 1
    again = await limit_order(connector, new_cid())
    placed = await connector.create_order(again)
    assert placed.client_order_id == again.client_order_id


async def test_a_429_on_create_slows_the_key_down(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    request = await limit_order(connector, new_cid())
    sim.inject_fault("rate_limit", endpoint=ORDER, retry_after=1)
    with pytest.raises(ours.RateLimited):
        await connector.create_order(request)
    [limited] = sim.request_log("POST", "/api/v3/order")
    await connector.fetch_open_orders("BTC/USDT")
    [after] = sim.request_log("GET", "/api/v3/openOrders")
    assert after.time_ms - limited.time_ms >= 950


async def test_duplicate_client_order_id(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    cid = new_cid()
    request = await limit_order(connector, cid)
    first = await connector.create_order(request)
    with pytest.raises(ours.DuplicateClientOrderId):
        await connector.create_order(request)
    assert [str(o.order_id) for o in sim.orders(client_order_id=cid)] == [first.exchange_order_id]


async def test_a_create_refused_by_our_own_budget_was_never_sent(
    make_connector: ConnectorMaker, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    budget = MemoryBudgets().budget_for("binance", "k", BudgetSpec(rate=1, burst=50, max_wait=1))
    connector = make_connector(budget=budget)
    request = await limit_order(connector, new_cid())
    await budget.slow_down(30)  # e.g. another process saw a 418
    with pytest.raises(ours.RateLimited) as excinfo:
        await connector.create_order(request)
    assert not isinstance(excinfo.value, ours.OrderOutcomeUnknown)
    assert sim.create_request_count(request.client_order_id) == 0


# ----------------------------------------------------------------------------- reads


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_error", "status": 503},
        {"kind": "http_error", "status": 502},
        {"kind": "accepted_response_lost"},
        {"kind": "delay", "seconds": SLOW},
        {"kind": "timestamp"},
    ],
    ids=["503", "502", "disconnect", "timeout", "timestamp"],
)
async def test_reads_retry_temporary_failures(
    connector: CcxtConnector, sim: BinanceSimulator, fault: dict[str, Any]
) -> None:
    await connector.load_markets()
    sim.inject_fault(endpoint="GET /api/v3/account", **fault)
    balances = await connector.fetch_balance()
    assert "USDT" in balances
    assert len(sim.request_log("GET", "/api/v3/account")) == 2


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "http_error", "status": 503}, ours.TemporaryExchangeError),
        ({"kind": "delay", "seconds": SLOW}, ours.TemporaryExchangeError),
        ({"kind": "rate_limit", "retry_after": 0}, ours.RateLimited),
        ({"kind": "ip_ban", "retry_after": 0}, ours.RateLimited),
    ],
    ids=["503", "timeout", "429", "418"],
)
async def test_reads_give_up_after_the_policy(
    connector: CcxtConnector, sim: BinanceSimulator, fault: dict[str, Any], expected: type
) -> None:
    await connector.load_markets()
    sim.inject_fault(endpoint="GET /api/v3/ticker/24hr", times=None, **fault)
    with pytest.raises(expected) as excinfo:
        await connector.fetch_ticker("BTC/USDT")
    assert type(excinfo.value) is expected
    assert len(sim.request_log("GET", "/api/v3/ticker/24hr")) == 3  # FAST_RETRY.max_attempts


async def test_a_429_on_a_read_waits_retry_after_then_retries(
    connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    await connector.load_markets()
    sim.inject_fault("rate_limit", endpoint="GET /api/v3/ticker/24hr", retry_after=1)
    started = time.monotonic()
    assert (await connector.fetch_ticker("BTC/USDT")).symbol == "BTC/USDT"
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("shared_through", ["memory", "redis"])
async def test_a_429_seen_by_one_connector_holds_back_another_using_the_key(
    make_connector: ConnectorMaker,
    sim: BinanceSimulator,
    shared_through: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    spec = BudgetSpec(rate=50, burst=50)
    clients: list[Redis] = []
    budgets: list[RequestBudget]
    if shared_through == "memory":
        memory = MemoryBudgets()
        budgets = [memory.budget_for("binance", "key", spec)] * 2
    else:  # two clients, as two worker processes would have
        clients = [Redis.from_url(redis_url) for _ in range(2)]
        prefix = f"{redis_prefix}{uuid.uuid4().hex[:6]}:"
        budgets = [RedisBudgets(c, prefix).budget_for("binance", "key", spec) for c in clients]
    impatient = make_connector(budget=budgets[0], retry_policy=RetryPolicy(max_attempts=1))
    other = make_connector(budget=budgets[1])
    await impatient.load_markets()
    await other.load_markets()
    sim.inject_fault("rate_limit", endpoint="GET /api/v3/ticker/24hr", retry_after=1)
    with pytest.raises(ours.RateLimited) as excinfo:
        await impatient.fetch_ticker("BTC/USDT")
    assert excinfo.value.retry_after == 1
    [limited] = sim.request_log("GET", "/api/v3/ticker/24hr")
    await other.fetch_ticker("ETH/USDT")
    [_, next_request] = sim.request_log("GET", "/api/v3/ticker/24hr")
    assert next_request.time_ms - limited.time_ms >= 950  # nothing was sent meanwhile
    for client in clients:
        await client.aclose()


async def test_clock_drift_is_repaired_by_resynchronising(
    connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    await connector.load_markets()
    sim.set_clock_offset(-20_000)  # our clock is 20 s ahead of the exchange's
    balances = await connector.fetch_balance()
    assert "USDT" in balances
    assert len(sim.request_log("GET", "/api/v3/time")) == 1


async def test_bad_signature_and_unknown_key(make_connector: ConnectorMaker) -> None:
    wrong_secret = make_connector(ApiCredentials(DEFAULT_API_KEY, "wrong" + DEFAULT_SECRET))
    with pytest.raises(ours.AuthenticationFailed, match="-1022"):
        await wrong_secret.fetch_balance()
    unknown = make_connector(ApiCredentials("unknown" + DEFAULT_API_KEY[7:], DEFAULT_SECRET))
    with pytest.raises(ours.AuthenticationFailed, match="-2015"):
        await unknown.fetch_balance()


async def test_a_revoked_trading_permission_rejects_the_create(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    request = await limit_order(connector, new_cid())
    sim.set_permissions(DEFAULT_API_KEY, enable_spot_and_margin_trading=False)
    with pytest.raises(ours.AuthenticationFailed):
        await connector.create_order(request)


# ----------------------------------------------------------------------------- cancels


async def test_cancel_with_a_lost_answer_is_retried_and_ends_canceled(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    cid = new_cid()
    created = await connector.create_order(await limit_order(connector, cid))
    sim.inject_fault("accepted_response_lost", endpoint="DELETE /api/v3/order")
    # the first cancel worked but its answer was lost; the retry finds nothing open
    result = await connector.cancel_order("BTC/USDT", exchange_order_id=created.exchange_order_id)
    assert result is None
    final = await connector.fetch_order("BTC/USDT", client_order_id=cid)
    assert final is not None and final.status is ExchangeOrderStatus.CANCELED


async def test_cancel_that_stays_ambiguous_is_unknown(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    created = await connector.create_order(await limit_order(connector, new_cid()))
    sim.inject_fault("http_error", endpoint="DELETE /api/v3/order", times=None, status=503)
    with pytest.raises(ours.OrderOutcomeUnknown):
        await connector.cancel_order("BTC/USDT", exchange_order_id=created.exchange_order_id)
    assert len(sim.request_log("DELETE", "/api/v3/order")) == 3


# ----------------------------------------------------------------------------- hygiene


async def test_no_secret_reaches_exceptions_or_logs(
    make_connector: ConnectorMaker,
    sim: BinanceSimulator,
    new_cid: OrderIds,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = make_connector(retry_policy=RetryPolicy(max_attempts=1))
    request = await limit_order(connector, new_cid())
    raised: list[BaseException] = []
    faults: list[tuple[str, dict[str, Any]]] = [
        ("GET /api/v3/account", {"kind": "http_error", "status": 503}),
        (ORDER, {"kind": "http_error", "status": 503}),
        ("GET /api/v3/openOrders", {"kind": "timestamp"}),
    ]
    for endpoint, fault in faults:
        sim.inject_fault(endpoint=endpoint, **fault)
        with pytest.raises(ours.ExchangeError) as excinfo:
            if endpoint == ORDER:
                await connector.create_order(request)
            elif "account" in endpoint:
                await connector.fetch_balance()
            else:
                await connector.fetch_open_orders("BTC/USDT")
        raised.append(excinfo.value)
    assert [type(e) for e in raised] == [
        ours.TemporaryExchangeError,
        ours.OrderOutcomeUnknown,
        ours.ClockSkew,
    ]
    texts = [str(e) for e in raised] + [r.getMessage() for r in caplog.records]
    assert any("api/v3/account?***" in text for text in texts)
    for text in texts:
        assert DEFAULT_API_KEY not in text and DEFAULT_SECRET not in text
        assert "signature=" not in text and "timestamp=" not in text
    for error in raised:  # the raw ccxt exception (with the signed URL) is not attached
        assert error.__cause__ is None and error.__context__ is None


async def test_every_request_spends_the_budget_with_ccxt_weights(
    make_connector: ConnectorMaker, sim: BinanceSimulator
) -> None:
    weights: list[float] = []

    class Recording:
        async def acquire(self, weight: float = 1.0) -> None:
            weights.append(weight)

        async def slow_down(self, seconds: float) -> None:
            raise AssertionError("no 429 here")

    connector = make_connector(budget=Recording())
    await connector.load_markets()
    await connector.fetch_ticker("BTC/USDT")
    await connector.fetch_balance()
    assert len(weights) == len(sim.requests) == 3
    assert all(weight > 0 for weight in weights)
    assert weights[0] > weights[1]  # exchangeInfo weighs more than one ticker


async def test_every_ccxt_retry_is_disabled(connector: CcxtConnector) -> None:
    assert connector._exchange.options["maxRetriesOnFailure"] == 0
