"""Ticks of a live grid bot against the simulator, in process: start, ladder, counter-orders,
stop, a strategy that raises, the kill switch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from autogrid.bots import repository as bot_rows
from autogrid.bots.schemas import bot_read
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import CachedStrategy, RuntimeContext
from autogrid.models import BotStatus, KillSwitch
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.strategies.base import Decision, Snapshot
from tests.exchange_sim import DEFAULT_API_KEY, BinanceSimulator
from tests.support.factories import (
    SYMBOL,
    Clock,
    LiveAccount,
    bot_events,
    load_bot,
    make_bot,
    make_credential,
    orders_of,
    set_bot,
)

D = Decimal


async def live_bot(live: LiveAccount, **kwargs: Any) -> uuid.UUID:
    kwargs.setdefault("status", "starting")
    return await live.bot(**kwargs)


async def orders_waiting(db: Database, bot_id: uuid.UUID) -> Any:
    """What the bot's read (its read row) shows of its orders waiting to be placed again."""
    async with db.session_scope() as session:
        owner = (await load_bot(db, bot_id)).user_id
        row = await bot_rows.read_bot(session, owner, bot_id)
    assert row is not None
    return bot_read(row).model_dump(mode="json")["orders_waiting"]


def open_prices(sim: BinanceSimulator, side: str) -> list[Decimal]:
    return sorted(o.price for o in sim.orders(status="NEW") if o.side == side)


async def test_a_started_grid_lays_its_ladder_and_answers_fills_with_counter_orders(
    live: LiveAccount,
) -> None:
    bot_id = await live_bot(live)

    await tick_bot(live.ctx, bot_id)

    assert (await load_bot(live.db, bot_id)).status == BotStatus.RUNNING
    assert open_prices(live.sim, "BUY") == [
        D(p) for p in ("95000", "96000", "97000", "98000", "99000")
    ]
    assert open_prices(live.sim, "SELL") == []
    assert {o.status for o in await orders_of(live.db, bot_id)} == {"open"}

    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills
    await tick_bot(live.ctx, bot_id)

    assert open_prices(live.sim, "SELL") == [D("100000")]
    assert open_prices(live.sim, "BUY") == [D(p) for p in ("95000", "96000", "97000", "98000")]
    statuses = sorted(o.status for o in await orders_of(live.db, bot_id))
    assert statuses == ["filled"] + ["open"] * 5

    await tick_bot(live.ctx, bot_id)  # a quiet tick changes nothing
    assert len(await orders_of(live.db, bot_id)) == 6
    assert sum(live.sim.create_request_counts().values()) == 6


async def test_stop_cancels_every_open_order(live: LiveAccount) -> None:
    bot_id = await live_bot(live)
    await tick_bot(live.ctx, bot_id)
    bot = await load_bot(live.db, bot_id)
    stop = {"cancel_orders": True, "sell_base": False, "requested_at": "2026-01-01T00:00:00+00:00"}
    await set_bot(live.db, bot_id, status="stopping", state={**bot.state, "stop_request": stop})

    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.STOPPED
    assert "stop_request" not in bot.state
    assert live.sim.orders(status="NEW") == []
    assert {o.status for o in await orders_of(live.db, bot_id)} == {"canceled"}


class Exploding:
    name = "exploding"

    def candles_needed(self) -> int:
        return 0

    def indicators(self, candles: Any) -> dict[str, Any]:
        return {}

    def initial_state(self, snapshot: Snapshot) -> dict[str, Any]:
        return {}

    def decide(self, snapshot: Snapshot, state: Any, fills: Any) -> Decision[Any]:
        raise ZeroDivisionError("boom")

    def dump_state(self, state: Any) -> dict[str, Any]:
        return {}

    def load_state(self, data: Any) -> dict[str, Any]:
        return {}


async def test_a_strategy_that_raises_stops_only_its_bot(live: LiveAccount) -> None:
    # Already running: a start would drop the (injected) cached strategy.
    broken = await live_bot(live, status="running")
    healthy = await live_bot(live, status="running")
    bot = await load_bot(live.db, broken)
    live.ctx.strategies[broken] = CachedStrategy(dict(bot.config), Exploding())

    await tick_bot(live.ctx, broken)
    await tick_bot(live.ctx, healthy)

    failed = await load_bot(live.db, broken)
    assert failed.status == BotStatus.ERROR
    assert failed.error == "strategy error: ZeroDivisionError: boom"
    assert [e.message for e in await bot_events(live.db, broken, "error")] == [failed.error]
    assert (await load_bot(live.db, healthy)).status == BotStatus.RUNNING
    assert len(await orders_of(live.db, healthy)) == 5
    assert await orders_of(live.db, broken) == []


async def test_the_kill_switch_halts_the_bot_and_denies_new_orders(live: LiveAccount) -> None:
    bot_id = await live_bot(live)
    async with live.db.session_scope() as session:
        session.add(
            KillSwitch(scope="global", engaged=True, reason="drill", changed_at=datetime.now(UTC))
        )

    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.HALTED
    assert bot.breaker_reason == "kill switch: drill"
    assert sum(live.sim.create_request_counts().values()) == 0
    assert await bot_events(live.db, bot_id, "breaker_tripped")


async def test_a_refused_api_key_puts_the_bot_in_error(
    ctx: RuntimeContext,
    db: Database,
    settings: Settings,
    sim: BinanceSimulator,
    user_id: uuid.UUID,
) -> None:
    wrong = await make_credential(db, settings, user_id, DEFAULT_API_KEY, "not-the-secret")
    bot_id = await make_bot(db, user_id, status="starting", credential_id=wrong)

    await tick_bot(ctx, bot_id)

    bot = await load_bot(db, bot_id)
    assert bot.status == BotStatus.ERROR
    assert bot.error is not None and bot.error.startswith("the exchange refused the API key")
    assert sim.create_request_counts() == {}


async def test_buys_the_exchange_keeps_rejecting_are_placed_again_with_a_back_off(
    live: LiveAccount, clock: Clock
) -> None:
    """The exchange rejects the ladder's buys at every try: they go again together at the next
    tick, then a minute later, and rest once the exchange takes them. They were once never
    placed again: a running grid that would never buy."""
    bot_id = await live_bot(live)
    live.reject_new_orders()
    await live.tick_for(bot_id, clock)  # the second rejection in a row waits a minute

    buys = [o for o in await orders_of(live.db, bot_id) if o.side == "buy"]
    assert len(buys) == 10 and {o.status for o in buys} == {"rejected"}
    state = (await load_bot(live.db, bot_id)).state["strategy"]
    assert sorted(map(int, state["unplaced_buys"])) == [0, 1, 2, 3, 4]
    assert state["backoff"]["refusals"] == 2
    # Its owner's read shows them waiting, and when they go again.
    waiting = await orders_waiting(live.db, bot_id)
    assert waiting is not None and waiting["buy_levels"] == [0, 1, 2, 3, 4]
    assert (waiting["sell_levels"], waiting["refusals"]) == ([], 2)
    retry_at = datetime.fromisoformat(waiting["retry_at"])
    assert retry_at == datetime.fromisoformat(state["backoff"]["retry_at"]) and retry_at > clock()

    live.sim.clear_faults()
    clock.move(60)
    await tick_bot(live.ctx, bot_id)
    assert open_prices(live.sim, "BUY") == [
        D(p) for p in ("95000", "96000", "97000", "98000", "99000")
    ]
    assert (await load_bot(live.db, bot_id)).state["strategy"]["unplaced_buys"] == {}
    assert await orders_waiting(live.db, bot_id) is None
    live.sim.set_price(SYMBOL, "98500")  # and it buys the dip
    await tick_bot(live.ctx, bot_id)
    assert open_prices(live.sim, "SELL") == [D("100000")]


async def test_a_sell_the_exchange_keeps_rejecting_is_placed_again_with_a_back_off(
    live: LiveAccount, clock: Clock
) -> None:
    """The 99000 buy fills and the exchange rejects its sell one level up (a price filter,
    say) at every try: placed again at the next tick, then a minute later; it rests once the
    exchange takes it. It was once sent again at every tick for as long as that lasted."""
    bot_id = await live_bot(live)
    await tick_bot(live.ctx, bot_id)  # the ladder's buys
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills
    live.reject_new_orders()
    await live.tick_for(bot_id, clock)  # the second rejection in a row waits a minute

    sells = [o for o in await orders_of(live.db, bot_id) if o.side == "sell"]
    assert [o.status for o in sells] == ["rejected", "rejected"]
    state = (await load_bot(live.db, bot_id)).state["strategy"]
    assert state["unplaced"] == [5] and state["backoff"]["refusals"] == 2

    live.sim.clear_faults()
    clock.move(60)
    await tick_bot(live.ctx, bot_id)
    assert open_prices(live.sim, "SELL") == [D("100000")]
    assert (await load_bot(live.db, bot_id)).state["strategy"]["unplaced"] == []
