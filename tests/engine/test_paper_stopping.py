"""A paper replay bot's stop, ticked in process: the stop sell fills as the replay moves on, a
replay with no candle left gives the sale up and says so, and a repeated stop that drops the
sale cancels the sell instead of leaving it on the book."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.models import BotStatus
from autogrid.scheduling.ticking import tick_bot
from tests.engine.test_paper_replay import starting_replay_grid
from tests.engine.test_stopping import request_stop
from tests.exchanges.paper.helpers import real_candles, store_candles
from tests.support.contexts import runtime_context
from tests.support.factories import Clock, bot_events, fills_of, load_bot, orders_of

D = Decimal
SPEED = 600  # ten one-minute candles a wall second


async def replay_bot(
    settings: Settings, db: Database, user_id: uuid.UUID, count: int
) -> tuple[uuid.UUID, Clock, RuntimeContext]:
    """A grid replay bot over ``count`` stored candles, started and ticked past its opening
    buy (the second candle) but not past the last candle."""
    candles = real_candles(count)
    await store_candles(db, candles)
    clock = Clock()
    bot_id = await starting_replay_grid(db, user_id, candles, SPEED)
    ctx = runtime_context(settings, db, clock)
    await tick_bot(ctx, bot_id)
    clock.move(0.5)  # five candles on
    await tick_bot(ctx, bot_id)
    assert any(f.side == "buy" for f in await fills_of(db, bot_id))
    return bot_id, clock, ctx


def stop_sells(orders: list[Any]) -> list[Any]:
    return [o for o in orders if (o.intent or {}).get("tag") == "STOPSELL"]


async def test_the_stop_sell_fills_at_the_next_candle_and_the_bot_stops(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    bot_id, clock, ctx = await replay_bot(settings, db, user_id, 60)
    try:
        await request_stop(db, bot_id, sell_base=True)
        await tick_bot(ctx, bot_id)  # cancels, then the sale is placed
        await tick_bot(ctx, bot_id)  # no candle has closed since: it rests
        assert (await load_bot(db, bot_id)).status == BotStatus.STOPPING
        clock.move(0.2)  # two candles close
        await tick_bot(ctx, bot_id)
        await tick_bot(ctx, bot_id)
    finally:
        await ctx.close()
    assert (await load_bot(db, bot_id)).status == BotStatus.STOPPED
    [sell] = stop_sells(await orders_of(db, bot_id))
    assert sell.status == "filled" and sell.filled == sell.amount
    fills = await fills_of(db, bot_id)
    held = sum((f.amount if f.side == "buy" else -f.amount for f in fills), D(0))
    assert held == 0


async def test_a_repeated_stop_without_the_sale_cancels_the_stop_sell(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    bot_id, _, ctx = await replay_bot(settings, db, user_id, 60)
    try:
        await request_stop(db, bot_id, sell_base=True)
        await tick_bot(ctx, bot_id)
        await tick_bot(ctx, bot_id)
        assert [o.status for o in stop_sells(await orders_of(db, bot_id))] == ["open"]
        await request_stop(db, bot_id, sell_base=False)  # the owner asks for less
        await tick_bot(ctx, bot_id)
        await tick_bot(ctx, bot_id)
    finally:
        await ctx.close()
    assert (await load_bot(db, bot_id)).status == BotStatus.STOPPED
    assert [o.status for o in stop_sells(await orders_of(db, bot_id))] == ["canceled"]
    assert all(o.status in ("filled", "canceled") for o in await orders_of(db, bot_id))


async def test_a_replay_with_no_candle_left_gives_the_sale_up_and_says_so(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    bot_id, clock, ctx = await replay_bot(settings, db, user_id, 8)
    try:
        clock.move(2)  # far past the last candle: the next tick matches every one
        await request_stop(db, bot_id, sell_base=True)
        for _ in range(4):
            await tick_bot(ctx, bot_id)
    finally:
        await ctx.close()
    assert (await load_bot(db, bot_id)).status == BotStatus.STOPPED
    assert [o.status for o in stop_sells(await orders_of(db, bot_id))] == ["canceled"]
    [skipped] = await bot_events(db, bot_id, "stop_sell_skipped")
    assert "no candle after" in skipped.message


async def test_a_paper_bot_stopped_before_its_start_was_carried_out_just_stops(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    # Started, then stopped before any tick: the start never opened its paper account. The
    # stop has nothing to cancel; it used to fail the bot ("no paper account yet").
    candles = real_candles(10)
    await store_candles(db, candles)
    bot_id = await starting_replay_grid(db, user_id, candles, SPEED)
    await request_stop(db, bot_id)
    ctx = runtime_context(settings, db, Clock())
    try:
        await tick_bot(ctx, bot_id)
    finally:
        await ctx.close()

    bot = await load_bot(db, bot_id)
    assert (bot.status, bot.error) == (BotStatus.STOPPED, None)
    assert await orders_of(db, bot_id) == []
    assert "stopped" in [event.type for event in await bot_events(db, bot_id)]
