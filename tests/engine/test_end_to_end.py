"""Through the API and real processes (a Celery worker, beat, the simulator): a live grid bot and a
paper replay grid bot start, lay their ladders, answer fills with counter-orders, report stats
exact to the cent, and stop with every order cancelled; the breaker trips on each of its limits.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.scheduling.dispatcher import CeleryBotDispatcher
from tests.engine.test_paper_replay import GRID
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, SimulatorProcess
from tests.exchanges.paper.helpers import MINUTE, real_candles, store_candles
from tests.helpers import ApiUser
from tests.support.contexts import simulator_factory
from tests.support.workers import Stack, eventually, flush_prefix, isolated_settings
from tests.worker.processes import all_running

pytestmark = pytest.mark.slow

D = Decimal
CENT = D("0.01")
BOTS = "/api/v1/bots"
LIVE_GRID: dict[str, Any] = {
    "lower_price": "95000",
    "upper_price": "105000",
    "grid_count": 10,
    "spacing": "arithmetic",
    "investment": "5000",
    "direction": "long",
}


@pytest.fixture
def sim_process() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as simulator:
        yield simulator


@pytest.fixture
async def running_stack(
    settings: Settings, db: Database, app: FastAPI, tmp_path: Path, sim_process: SimulatorProcess
) -> AsyncIterator[Stack]:
    """A worker and a beat on a queue of this test's own; the app sends them its commands and
    verifies API keys against the simulator."""
    stack = Stack(isolated_settings(settings, tmp_path), tmp_path, sim_process.url)
    app.state.bot_dispatcher = CeleryBotDispatcher(stack.app)
    app.state.connector_factory = simulator_factory(sim_process.url)
    with all_running(stack.worker("worker"), stack.beat()):
        yield stack
    stack.close()
    flush_prefix(stack.settings)


async def api(
    client: httpx.AsyncClient, user: ApiUser, method: str, path: str, body: Any = None
) -> Any:
    response = await client.request(method, path, json=body, headers=user.headers)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


async def live_credential(client: httpx.AsyncClient, user: ApiUser) -> str:
    body = {
        "exchange": "binance",
        "label": f"sim-{uuid.uuid4().hex[:6]}",
        "api_key": DEFAULT_API_KEY,
        "api_secret": DEFAULT_SECRET,
        "sandbox": False,
    }
    credential: dict[str, Any] = await api(client, user, "POST", "/api/v1/credentials", body)
    return str(credential["id"])


async def orders(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> list[dict[str, Any]]:
    page = await api(client, user, "GET", f"{BOTS}/{bot_id}/orders?limit=200")
    return list(page["items"])


def open_of(rows: list[dict[str, Any]], side: str) -> list[Decimal]:
    return sorted(D(o["price"]) for o in rows if o["status"] == "open" and o["side"] == side)


async def test_a_live_grid_bot_through_the_api(
    running_stack: Stack,
    client: httpx.AsyncClient,
    user: ApiUser,
    sim_process: SimulatorProcess,
) -> None:
    sim, stack = sim_process.client, running_stack
    credential = await live_credential(client, user)
    bot = await api(
        client,
        user,
        "POST",
        BOTS,
        {
            "name": "live grid",
            "type": "grid",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "mode": "live",
            "credential_id": credential,
            "tick_interval_seconds": 1,
            "config": LIVE_GRID,
        },
    )
    bot_id = bot["id"]
    await api(client, user, "POST", f"{BOTS}/{bot_id}/start")

    async def ladder() -> bool:
        return open_of(await orders(client, user, bot_id), "buy") == [
            D(p) for p in (95000, 96000, 97000, 98000, 99000)
        ]

    await eventually(ladder, stack)
    sim.set_price("BTC/USDT", "98500")  # the 99000 buy fills: a sell at 100000 answers it

    async def countered() -> bool:
        return open_of(await orders(client, user, bot_id), "sell") == [D(100000)]

    await eventually(countered, stack)
    sim.set_price("BTC/USDT", "100500")  # the sell fills: one round trip

    async def round_trip() -> bool:
        # The sell filled, and the strategy has seen it (grid profit is its own account).
        stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
        return stats["sells"] == 1 and D(stats["grid_profit"]) > 0

    await eventually(round_trip, stack)

    stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
    # By hand. Buy: 500 USDT / 99000 = 0.00505 BTC (the step is 0.00001) for 499.95 USDT, fee
    # 0.1% in BTC, so 0.00504495 BTC held. Sell: 0.00504 (rounded down) at 100000 = 504 USDT,
    # fee 0.504 USDT. The sale takes 0.00504 of the 0.00504495 BTC that cost 499.95.
    bought, cost = D("0.00505") - D("0.00000505"), D("499.95")
    basis = cost * D("0.00504") / bought
    realized = D("504") - D("0.504") - basis
    price = D(stats["price"])
    unrealized = (bought - D("0.00504")) * price - (cost - basis)
    assert D(stats["position"]) == bought - D("0.00504")
    assert D(stats["realized_pnl"]).quantize(CENT) == realized.quantize(CENT) == D("4.04")
    assert D(stats["unrealized_pnl"]).quantize(CENT) == unrealized.quantize(CENT)
    assert D(stats["grid_profit"]).quantize(CENT) == realized.quantize(CENT)
    assert D(stats["fees"]) == D("0.00000505") * D(99000) + D("0.504")
    assert (stats["trades"], stats["buys"], stats["sells"]) == (2, 1, 1)
    roi = (realized + unrealized) / D(5000) * 100
    assert D(stats["roi_pct"]).quantize(D("0.0001"), ROUND_DOWN) == roi.quantize(
        D("0.0001"), ROUND_DOWN
    )

    await api(client, user, "POST", f"{BOTS}/{bot_id}/stop", {"cancel_orders": True})

    async def stopped() -> bool:
        current = await api(client, user, "GET", f"{BOTS}/{bot_id}")
        return bool(current["status"] == "stopped")

    await eventually(stopped, stack)
    assert sim.orders(status="NEW") == []
    assert all(o["status"] in ("filled", "canceled") for o in await orders(client, user, bot_id))
    assert max(sim.create_request_counts().values()) == 1


async def test_a_paper_replay_grid_bot_through_the_api(
    running_stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    candles = real_candles(500)
    await store_candles(db, candles)
    bot = await api(
        client,
        user,
        "POST",
        BOTS,
        {
            "name": "replay grid",
            "type": "grid",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "mode": "paper",
            "tick_interval_seconds": 1,
            "paper": {
                "price_source": "replay",
                "timeframe": "1m",
                "start": (candles[0].ts + MINUTE).isoformat(),
                "speed": 600,  # the replay lasts 50 s: the test stops it before its end
                "balances": {"USDT": "20000"},
            },
            "config": GRID,
        },
    )
    bot_id = bot["id"]
    await api(client, user, "POST", f"{BOTS}/{bot_id}/start")

    async def traded() -> bool:
        stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
        rows = await orders(client, user, bot_id)
        sells = [o for o in rows if o["side"] == "sell"]
        return stats["sells"] >= 2 and any(o["status"] == "open" for o in sells)

    await eventually(traded, running_stack, timeout=90)
    await api(client, user, "POST", f"{BOTS}/{bot_id}/stop")

    async def stopped() -> bool:
        current = await api(client, user, "GET", f"{BOTS}/{bot_id}")
        return bool(current["status"] == "stopped")

    await eventually(stopped, running_stack)
    rows = await orders(client, user, bot_id)
    assert {o["status"] for o in rows} <= {"filled", "canceled"}
    assert any(o["status"] == "canceled" for o in rows)

    # The stats against a hand computation from the trades: everything received minus
    # everything paid (fees in USDT, as the paper exchange charges them) plus what is held,
    # at the last price the bot saw.
    trades = (await api(client, user, "GET", f"{BOTS}/{bot_id}/trades?limit=200"))["items"]
    stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
    spent = sum(D(t["price"]) * D(t["amount"]) for t in trades if t["side"] == "buy")
    received = sum(D(t["price"]) * D(t["amount"]) for t in trades if t["side"] == "sell")
    fees = sum(D(t["fee"]) for t in trades)
    held = sum(D(t["amount"]) * (1 if t["side"] == "buy" else -1) for t in trades)
    total = received - spent - fees + held * D(stats["price"])
    assert D(stats["position"]) == held
    assert D(stats["fees"]) == fees
    assert D(stats["total_pnl"]).quantize(CENT) == total.quantize(CENT)
    assert stats["trades"] == len(trades)


async def test_the_breaker_trips_on_each_of_its_limits(
    running_stack: Stack,
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    sim_process: SimulatorProcess,
) -> None:
    sim = sim_process.client
    await set_plan(db, user, "pro")  # four bots
    credential = await live_credential(client, user)

    async def started(name: str, breaker: dict[str, Any]) -> str:
        body = {
            "name": name,
            "type": "grid",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "mode": "live",
            "credential_id": credential,
            "tick_interval_seconds": 1,
            "config": LIVE_GRID,
            "breaker": breaker,
        }
        bot_id = str((await api(client, user, "POST", BOTS, body))["id"])
        await api(client, user, "POST", f"{BOTS}/{bot_id}/start")
        return bot_id

    async def halted(bot_id: str, words: str) -> bool:
        bot = await api(client, user, "GET", f"{BOTS}/{bot_id}")
        reason = bot["breaker_state"]["reason"] or ""
        return bool(bot["status"] == "halted" and words in reason)

    rate = await started("rate", {"max_orders_per_minute": 3})
    # A smart trade whose limit entry buys 10% above the market: a fat finger.
    fat_finger = {
        "name": "deviation",
        "symbol": "BTC/USDT",
        "mode": "live",
        "credential_id": credential,
        "tick_interval_seconds": 1,
        "breaker": {"max_price_deviation_pct": "2"},
        "amount": {"value": "1000", "unit": "quote"},
        "entry": {"type": "limit", "price": "110000"},
        "take_profits": [{"price": "120000", "share_percent": "50"},
                         {"price": "121000", "share_percent": "50"}],
    }  # fmt: skip
    deviation = str((await api(client, user, "POST", "/api/v1/smart-trades", fat_finger))["id"])
    loss = await started("loss", {"max_loss_pct_per_hour": "1"})
    errors = await started("errors", {"max_consecutive_errors": 3})

    await eventually(lambda: halted(rate, "order rate"), running_stack)
    await eventually(lambda: halted(deviation, "above the reference"), running_stack)

    async def laddered() -> bool:
        for bot_id in (loss, errors):
            if len(open_of(await orders(client, user, bot_id), "buy")) != 5:
                return False
        return True

    await eventually(laddered, running_stack)
    sim.set_price("BTC/USDT", "94000")  # both ladders fill; the loss bot is 1% down at once
    await eventually(lambda: halted(loss, "within an hour"), running_stack)
    assert (await api(client, user, "GET", f"{BOTS}/{errors}"))["status"] == "running"

    sim.inject_fault("http_error", "*", times=None, status=503)
    try:
        # Each failing read is retried with backoff first (seconds each): allow time.
        await eventually(
            lambda: halted(errors, "consecutive exchange errors"), running_stack, timeout=120
        )
    finally:
        sim.clear_faults()
    # Nothing was sent for the two bots that tripped before their first order.
    for bot_id in (rate, deviation):
        assert {o["status"] for o in await orders(client, user, bot_id)} == {"denied"}
    events = await api(client, user, "GET", f"{BOTS}/{loss}/events?kind=breaker_tripped")
    assert events["total"] == 1


async def set_plan(db: Database, user: ApiUser, plan: str) -> None:
    from autogrid.models import User

    async with db.session_scope() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.plan = plan
