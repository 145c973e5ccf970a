"""DCA bots through the API and real processes (a Celery worker, beat, the exchange simulator):
deals run through safety orders to a take profit that follows the average entry, wait out the
cooldown, stop out below the stop loss, and trail a take profit; a paper replay DCA bot over real
candles makes exactly the trades of the backtest of the same config."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.backtest.factory import build_strategy
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.engine.test_end_to_end import api, live_credential, orders
from tests.exchange_sim import SimulatorProcess
from tests.helpers import ApiUser
from tests.support.factories import load_bot
from tests.support.replay_checks import (
    BOTS,
    MARKET,
    backtest_trades,
    bot_trades,
    candle_window,
    create_replay_bot,
    replay_finished,
    stored_arrays,
    worker_stack,
)
from tests.support.workers import Stack, eventually

pytestmark = pytest.mark.slow

D = Decimal
CENT = D("0.01")
TICK = D("0.01")  # BTC/USDT on the simulator, as on Binance
STEP = D("0.00001")
SYMBOL = "BTC/USDT"
START_PRICE = D(100_000)  # the simulator's BTC/USDT price when it starts
COOLDOWN = 5  # seconds: long next to the checks made while deal 1's results stand alone
# Safety orders at 1%, 2.5%, 4.75% and 8.125% below the base price (step 1%, step scale 1.5),
# for 100, 200, 400 and 800 USDT (volume scale 2): max_deal_funds is 200 + 1500 = 1700 USDT.
# Unfilled safety orders make the investment large next to the stop-loss deal's loss, so the
# platform's loss breaker (5% of the investment within an hour) stays quiet.
LIVE_DCA: dict[str, Any] = {
    "base_order_volume": "200",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "1",
    "martingale_volume_coefficient": "2",
    "martingale_step_coefficient": "1.5",
    "max_safety_orders": 4,
    "active_safety_orders_count": 1,
    "take_profit": "1",
    "stop_loss_percentage": "5",
    "cooldown_seconds": COOLDOWN,
}
TRAILING_DCA: dict[str, Any] = {
    "base_order_volume": "200",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "2",
    "max_safety_orders": 1,
    "take_profit": "1",
    "trailing_take_profit": True,
    "trailing_deviation": "0.5",
    "cooldown_seconds": 3600,
}


@pytest.fixture
def sim_process() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as simulator:
        yield simulator


@pytest.fixture
async def live_stack(
    settings: Settings, app: FastAPI, tmp_path: Path, sim_process: SimulatorProcess
) -> AsyncIterator[Stack]:
    async with worker_stack(settings, app, tmp_path, sim_process.url) as stack:
        yield stack


@pytest.fixture
async def replay_stack(settings: Settings, app: FastAPI, tmp_path: Path) -> AsyncIterator[Stack]:
    async with worker_stack(settings, app, tmp_path) as stack:
        yield stack


# --- reading the bot back -----------------------------------------------------------------


def tag_of(order: dict[str, Any]) -> str:
    return str((order["intent"] or {})["tag"])


async def tagged(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str
) -> dict[str, dict[str, Any]]:
    """The bot's orders by strategy tag (tags are never reused within a bot)."""
    rows = await orders(client, user, bot_id)
    by_tag = {tag_of(order): order for order in rows}
    assert len(by_tag) == len(rows)
    return by_tag


async def settled(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str
) -> dict[str, dict[str, Any]] | None:
    """The orders by tag once none is open or on its way (a closed deal's cancels are sent
    after its decision is saved)."""
    rows = await tagged(client, user, bot_id)
    return rows if all(o["status"] in ("filled", "canceled") for o in rows.values()) else None


async def trades_of(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str
) -> list[tuple[str, dict[str, Any]]]:
    """(tag, trade) for each of the bot's trades, oldest first."""
    by_id = {order["id"]: tag_of(order) for order in await orders(client, user, bot_id)}
    page = await api(client, user, "GET", f"{BOTS}/{bot_id}/trades?limit=200")
    return sorted(((by_id[t["order_id"]], t) for t in page["items"]), key=lambda p: p[1]["ts"])


async def strategy_state(db: Database, bot_id: str) -> dict[str, Any]:
    bot = await load_bot(db, uuid.UUID(bot_id))
    state: dict[str, Any] = (bot.state or {}).get("strategy") or {}
    return state


def rounded_price(value: Decimal) -> Decimal:
    return (value / TICK).to_integral_value(ROUND_HALF_UP) * TICK


def rounded_amount(value: Decimal) -> Decimal:
    return (value / STEP).to_integral_value(ROUND_DOWN) * STEP


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def deal_figures(trades: list[tuple[str, dict[str, Any]]], deal: int) -> dict[str, Decimal]:
    """A deal's entry and results from its trades alone. The simulator charges a buy's fee in
    BTC and a sale's in USDT, as Binance does."""
    mine = [t for tag, t in trades if tag.startswith(f"D{deal}.")]
    buys = [t for t in mine if t["side"] == "buy"]
    sells = [t for t in mine if t["side"] == "sell"]
    spent = sum((D(t["price"]) * D(t["amount"]) for t in buys), D(0))
    bought = sum((D(t["amount"]) for t in buys), D(0))
    assert all(t["fee_currency"] == "BTC" for t in buys)
    assert all(t["fee_currency"] == "USDT" for t in sells)
    held = bought - sum((D(t["fee"]) for t in buys), D(0))
    received = sum((D(t["price"]) * D(t["amount"]) - D(t["fee"]) for t in sells), D(0))
    return {
        "spent": spent,
        "bought": bought,
        "average": spent / bought,
        "held": held,
        "received": received,
        "profit": received - spent,
    }


async def create_live_dca(
    client: httpx.AsyncClient, user: ApiUser, name: str, config: dict[str, Any]
) -> dict[str, Any]:
    credential = await live_credential(client, user)
    body = {
        "name": name,
        "type": "dca",
        "exchange": "binance",
        "symbol": SYMBOL,
        "mode": "live",
        "credential_id": credential,
        "tick_interval_seconds": 1,
        "config": config,
    }
    bot: dict[str, Any] = await api(client, user, "POST", BOTS, body)
    await api(client, user, "POST", f"{BOTS}/{bot['id']}/start")
    return bot


async def stop_and_check(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, stack: Stack, sim: Any
) -> None:
    await api(client, user, "POST", f"{BOTS}/{bot_id}/stop", {"cancel_orders": True})

    async def stopped() -> bool:
        current = await api(client, user, "GET", f"{BOTS}/{bot_id}")
        return bool(current["status"] == "stopped")

    await eventually(stopped, stack)
    assert sim.orders(status="NEW") == []
    assert all(o["status"] in ("filled", "canceled") for o in await orders(client, user, bot_id))
    # Every order reached the exchange once at most: no blind retry ever bought twice.
    assert max(sim.create_request_counts().values()) == 1


# --- the tests ----------------------------------------------------------------------------


async def test_a_live_dca_deal_through_safety_orders_to_take_profit_then_cooldown_and_stop_loss(
    live_stack: Stack,
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    sim_process: SimulatorProcess,
) -> None:
    sim, stack = sim_process.client, live_stack
    bot = await create_live_dca(client, user, "live dca", LIVE_DCA)
    bot_id = bot["id"]
    assert D(bot["max_deal_funds"]) == D(1700)
    assert D(bot["investment"]) == D(1700)

    async def resting(*tags: str) -> dict[str, dict[str, Any]] | None:
        """The orders by tag once each of ``tags`` rests on the exchange."""
        rows = await tagged(client, user, bot_id)
        return rows if all(rows.get(t, {}).get("status") == "open" for t in tags) else None

    # Deal 1 opens: the base order buys 200 USDT at market, one safety order and the take
    # profit rest (one active safety order at a time).
    rows = await eventually(lambda: resting("D1.SO1", "D1.TP1"), stack)
    base = rows["D1.BO"]
    assert (base["side"], base["type"], base["status"]) == ("buy", "market", "filled")
    assert D(base["filled"]) == D("0.002") and D(base["average_price"]) == START_PRICE
    assert D(rows["D1.SO1"]["price"]) == D(99_000)
    assert D(rows["D1.SO1"]["amount"]) == D("0.00101")  # 100 USDT / 99000, down to the step
    assert D(rows["D1.TP1"]["price"]) == D(101_000)  # 1% above the only entry
    assert D(rows["D1.TP1"]["amount"]) == D("0.00199")  # 0.002 less its 0.1% fee, in BTC
    assert "D1.SO2" not in rows

    # Each safety fill moves the average entry; the take profit is re-placed 1% above it.
    expected_so = {
        1: ("98900", "D1.SO1", D(99_000), "D1.SO2", D(97_500), D("0.00205")),
        2: ("97000", "D1.SO2", D(97_500), "D1.SO3", D(95_250), D("0.00419")),
    }
    for n, (price, filled_tag, filled_at, next_tag, next_price, next_amount) in expected_so.items():
        sim.set_price(SYMBOL, price)  # the resting safety order fills at its own price
        new_tp, old_tp = f"D1.TP{n + 1}", f"D1.TP{n}"

        async def replaced(
            next_tag: str = next_tag, new_tp: str = new_tp, old_tp: str = old_tp
        ) -> dict[str, dict[str, Any]] | None:
            rows = await resting(next_tag, new_tp)
            return rows if rows and rows[old_tp]["status"] == "canceled" else None

        rows = await eventually(replaced, stack)
        assert rows[filled_tag]["status"] == "filled"
        assert D(rows[filled_tag]["average_price"]) == filled_at
        assert (D(rows[next_tag]["price"]), D(rows[next_tag]["amount"])) == (
            next_price,
            next_amount,
        )
        figures = deal_figures(await trades_of(client, user, bot_id), 1)
        state = await strategy_state(db, bot_id)
        assert state["safety_filled"] == n
        # The average entry is the quote spent over the base bought, exactly.
        assert D(state["bought_notional"]) / D(state["bought_amount"]) == figures["average"]
        assert D(rows[new_tp]["price"]) == rounded_price(figures["average"] * D("1.01"))
        assert D(rows[new_tp]["amount"]) == rounded_amount(figures["held"])
        assert D(rows[new_tp]["price"]) < D(rows[old_tp]["price"])
    # By hand: 200 + 99.99 + 199.875 USDT for 0.002 + 0.00101 + 0.00205 BTC.
    assert figures["average"].quantize(CENT) == D("98787.55")
    assert D(rows["D1.TP3"]["price"]) == D("99775.42")

    # The price comes back over the take profit: it fills and the deal closes.
    sim.set_price(SYMBOL, str(START_PRICE))

    async def closed(count: int) -> dict[str, Any] | None:
        state = await strategy_state(db, bot_id)
        return state if len(state.get("deals", ())) == count else None

    state = await eventually(lambda: closed(1), stack)
    stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
    trades = await trades_of(client, user, bot_id)
    figures = deal_figures(trades, 1)
    deal = state["deals"][0]
    assert deal["close_reason"] == "take_profit"
    assert deal["safety_orders_filled"] == 2
    assert D(deal["base_price"]) == START_PRICE
    assert D(deal["average_entry"]) == figures["average"]
    assert D(deal["amount"]) == figures["bought"] == D("0.00506")
    assert D(deal["cost"]) == figures["spent"] == D("499.865")
    sold = [t for tag, t in trades if tag == "D1.TP3"]
    assert [(D(t["price"]), D(t["amount"])) for t in sold] == [(D("99775.42"), D("0.00505"))]
    assert D(deal["profit"]) == figures["profit"]
    assert D(deal["profit"]).quantize(CENT) == D("3.50")  # 503.866 - 0.504 - 499.865
    assert state["phase"] == "idle"
    rows = await eventually(lambda: settled(client, user, bot_id), stack)
    assert rows["D1.SO3"]["status"] == "canceled"
    assert not any(tag.startswith("D2.") for tag in rows)
    assert (stats["trades"], stats["buys"], stats["sells"]) == (4, 3, 1)
    # The stats' average-cost view: the sale takes 0.00505 of the 0.00505494 BTC held.
    basis = figures["spent"] * D("0.00505") / figures["held"]
    assert D(stats["realized_pnl"]).quantize(CENT) == (figures["received"] - basis).quantize(CENT)
    assert D(stats["position"]) == figures["held"] - D("0.00505")

    # The cooldown: deal 2's base order only after it.
    closed_at = when(deal["closed_at"])
    assert when(state["next_start_at"]) == closed_at + timedelta(seconds=COOLDOWN)
    # Take-profit versions count on across deals: deal 2's first one is TP4.
    rows = await eventually(lambda: resting("D2.SO1", "D2.TP4"), stack)
    assert when(rows["D2.BO"]["created_at"]) >= closed_at + timedelta(seconds=COOLDOWN)
    assert D(rows["D2.BO"]["average_price"]) == START_PRICE

    # Deal 2: one drop past the safety order and the stop loss. The safety order fills (the
    # average entry becomes 99664.45, the stop 94681.23); at 93000 the deal exits at market.
    sim.set_price(SYMBOL, "93000")
    state = await eventually(lambda: closed(2), stack)
    deal = state["deals"][1]
    trades = await trades_of(client, user, bot_id)
    figures = deal_figures(trades, 2)
    assert deal["close_reason"] == "stop_loss"
    assert deal["safety_orders_filled"] == 1
    assert D(deal["average_entry"]) == figures["average"]
    assert figures["average"] * D("0.95") >= D(93_000)
    rows = await eventually(lambda: settled(client, user, bot_id), stack)
    exit_order = rows["D2.EXIT"]
    assert (exit_order["side"], exit_order["type"], exit_order["status"]) == (
        "sell",
        "market",
        "filled",
    )
    assert D(exit_order["average_price"]) == D(93_000)
    assert D(exit_order["filled"]) == rounded_amount(figures["held"]) == D("0.003")
    # The decision that saw SO1 fill saw the stop first: no next safety order and no new take
    # profit were decided (nor written, nor sent). The resting take profit was cancelled.
    assert state["tp_version"] == 4
    assert {tag: o["status"] for tag, o in rows.items() if tag.startswith("D2.")} == {
        "D2.BO": "filled",
        "D2.SO1": "filled",
        "D2.TP4": "canceled",
        "D2.EXIT": "filled",
    }
    assert D(deal["profit"]) == figures["profit"]
    assert D(deal["profit"]).quantize(CENT) == D("-21.27")  # 279 - 0.279 - 299.99
    assert D(state["realized_pnl"]) == D(state["deals"][0]["profit"]) + D(deal["profit"])
    current = await api(client, user, "GET", f"{BOTS}/{bot_id}")
    assert current["status"] == "running" and not current["breaker_state"]["tripped"]

    await stop_and_check(client, user, bot_id, stack, sim)
    assert not any(tag.startswith("D3.") for tag in await tagged(client, user, bot_id))

    # The owner's journal tells the same story: each deal opened, then closed with its profit.
    deals = await api(
        client,
        user,
        "GET",
        f"/api/v1/events?bot_id={bot_id}&type=deal_opened&type=deal_closed&limit=200",
    )
    assert [(e["type"], e["data"]["deal"]) for e in deals["items"]] == [
        ("deal_opened", 1), ("deal_closed", 1), ("deal_opened", 2), ("deal_closed", 2)
    ]  # fmt: skip
    profits = [D(e["data"]["profit"]) for e in deals["items"] if e["type"] == "deal_closed"]
    assert profits == [D(d["profit"]) for d in state["deals"]]
    journal = await api(client, user, "GET", f"/api/v1/events?bot_id={bot_id}&limit=200")
    assert {e["type"] for e in journal["items"]} >= {
        "created", "start_requested", "started", "order_placed", "order_acknowledged",
        "order_filled", "fill", "order_cancelled", "stop_requested", "stopped",
    }  # fmt: skip


async def test_a_live_dca_trailing_take_profit(
    live_stack: Stack,
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    sim_process: SimulatorProcess,
) -> None:
    sim, stack = sim_process.client, live_stack
    bot = await create_live_dca(client, user, "trailing dca", TRAILING_DCA)
    bot_id = bot["id"]

    async def resting_safety() -> dict[str, dict[str, Any]] | None:
        rows = await tagged(client, user, bot_id)
        return rows if rows.get("D1.SO1", {}).get("status") == "open" else None

    rows = await eventually(resting_safety, stack)
    assert D(rows["D1.BO"]["average_price"]) == START_PRICE
    # A trailing take profit rests no order: the bot watches the price.
    assert set(rows) == {"D1.BO", "D1.SO1"}

    async def seen(price: str) -> dict[str, Any] | None:
        """The strategy's state once a tick has seen ``price``."""
        bot = await load_bot(db, uuid.UUID(bot_id))
        state = bot.state or {}
        if D(state.get("last_price") or 0) != D(price):
            return None
        strategy: dict[str, Any] = state["strategy"]
        return strategy

    async def peaked(price: str) -> dict[str, Any] | None:
        state = await seen(price)
        return (
            state if state and state["peak"] is not None and D(state["peak"]) == D(price) else None
        )

    sim.set_price(SYMBOL, "100500")  # under the take profit (101000): nothing happens
    state = await eventually(lambda: seen("100500"), stack)
    assert not state["trailing_active"]
    sim.set_price(SYMBOL, "101200")  # past it: trailing starts from here
    state = await eventually(lambda: peaked("101200"), stack)
    assert state["trailing_active"] and state["phase"] == "in_deal"
    sim.set_price(SYMBOL, "102000")  # still rising: the peak follows, the deal stays open
    state = await eventually(lambda: peaked("102000"), stack)
    sim.set_price(SYMBOL, "101500")  # 0.49% under the peak: within the deviation
    state = await eventually(lambda: seen("101500"), stack)
    assert state["phase"] == "in_deal" and D(state["peak"]) == D(102_000)
    assert set(await tagged(client, user, bot_id)) == {"D1.BO", "D1.SO1"}

    sim.set_price(SYMBOL, "101400")  # 0.59% under the peak (the line is 101490): exit at market

    async def closed() -> dict[str, Any] | None:
        state = await strategy_state(db, bot_id)
        return state if state.get("deals") else None

    state = await eventually(closed, stack)
    deal = state["deals"][0]
    assert deal["close_reason"] == "trailing_take_profit"
    rows = await eventually(lambda: settled(client, user, bot_id), stack)
    exit_order = rows["D1.EXIT"]
    assert (exit_order["side"], exit_order["type"], exit_order["status"]) == (
        "sell",
        "market",
        "filled",
    )
    assert D(exit_order["average_price"]) == D(101_400)
    assert D(exit_order["filled"]) == D("0.00199")
    assert rows["D1.SO1"]["status"] == "canceled"
    figures = deal_figures(await trades_of(client, user, bot_id), 1)
    assert D(deal["profit"]) == figures["profit"]
    # 0.00199 x 101400 = 201.786, less its 0.1% fee, for 200 USDT.
    assert D(deal["profit"]) == D("201.786") - D("0.201786") - D(200)
    stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
    assert (stats["trades"], stats["buys"], stats["sells"]) == (2, 1, 1)
    assert D(stats["position"]) == D("0.000008")  # 0.001998 held, 0.00199 sold: dust
    basis = D(200) * D("0.00199") / D("0.001998")
    assert D(stats["realized_pnl"]).quantize(CENT) == (
        D("201.786") - D("0.201786") - basis
    ).quantize(CENT)
    # A one-hour cooldown: no second deal.
    assert when(state["next_start_at"]) == when(deal["closed_at"]) + timedelta(hours=1)
    assert state["phase"] == "idle"
    await stop_and_check(client, user, bot_id, stack, sim)
    assert set(await tagged(client, user, bot_id)) == {"D1.BO", "D1.SO1", "D1.EXIT"}


# 300 real one-minute candles (2025-05-23 13:00 to 17:59 UTC). The first config makes 5 deals,
# each closed at its take profit, three of them after safety orders (one after all four); the
# second trails its take profits, and stops one deal out after both its safety orders.
REPLAY_SKIP, REPLAY_CANDLES = 5100, 300
REPLAY_QUOTE = D(10_000)
REPLAY_CONFIGS: dict[str, dict[str, Any]] = {
    "take profit": {
        "base_order_volume": "100",
        "safety_order_volume": "100",
        "safety_order_step_percentage": "0.3",
        "martingale_volume_coefficient": "1.5",
        "martingale_step_coefficient": "1.2",
        "max_safety_orders": 4,
        "active_safety_orders_count": 2,
        "take_profit": "0.4",
        "cooldown_seconds": 300,
    },
    "trailing and stop loss": {
        "base_order_volume": "100",
        "safety_order_volume": "100",
        "safety_order_step_percentage": "0.3",
        "max_safety_orders": 2,
        "take_profit": "0.5",
        "trailing_take_profit": True,
        "trailing_deviation": "0.2",
        "stop_loss_percentage": "0.8",
        "cooldown_seconds": 600,
    },
}


async def test_paper_replay_dca_bots_trade_exactly_like_the_backtest(
    replay_stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    candles = candle_window(REPLAY_SKIP, REPLAY_CANDLES)
    arrays = await stored_arrays(db, candles)
    bots: dict[str, str] = {}
    for name, config in REPLAY_CONFIGS.items():
        bots[name] = await create_replay_bot(
            client, user, "dca", config, candles, REPLAY_QUOTE, name=name
        )
        await api(client, user, "POST", f"{BOTS}/{bots[name]}/start")

    for name, config in REPLAY_CONFIGS.items():
        want, want_state = backtest_trades("dca", config, arrays, REPLAY_QUOTE)
        await replay_finished(client, user, db, bots[name], candles, replay_stack)
        got = await bot_trades(db, uuid.UUID(bots[name]))
        assert got == want, name
        # The same strategy state by value: the same deals, closed the same way.
        strategy = build_strategy("dca", config, MARKET)
        state = await strategy_state(db, bots[name])
        assert strategy.load_state(state) == strategy.load_state(want_state), name

    deals = {name: (await strategy_state(db, bot_id))["deals"] for name, bot_id in bots.items()}
    tp = deals["take profit"]
    assert {d["close_reason"] for d in tp} == {"take_profit"}
    assert [d["safety_orders_filled"] for d in tp] == [1, 0, 1, 4, 0]
    trailing = [
        (d["close_reason"], d["safety_orders_filled"]) for d in deals["trailing and stop loss"]
    ]
    assert ("stop_loss", 2) in trailing
    assert [reason for reason, _ in trailing].count("trailing_take_profit") == 3
