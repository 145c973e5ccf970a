"""A paper bot halted before its start was carried out (the kill switch engaged while it was
``starting``, as when an owner starts a bot during a drill): it is halted for the switch's reason,
not failed for having no paper account yet, and a reset of its breaker starts it afresh (back to
``starting``) instead of running a bot whose start never ran. A process's cached read of the
switch, engaged a moment before its release, halts nothing once it is released."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import update

from autogrid.bots import controls
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import BotStatus, KillSwitch, User
from autogrid.scheduling.ticking import tick_bot
from tests.engine.test_paper_replay import starting_replay_grid
from tests.exchanges.paper.helpers import real_candles, store_candles
from tests.support.contexts import runtime_context
from tests.support.factories import Clock, load_bot, orders_of


async def test_a_bot_halted_while_starting_is_halted_then_starts_on_reset(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    candles = real_candles(30)
    await store_candles(db, candles)
    bot_id = await starting_replay_grid(db, user_id, candles, speed=60)
    async with db.session_scope() as session:
        session.add(
            KillSwitch(scope="global", engaged=True, reason="drill", changed_at=datetime.now(UTC))
        )
    ctx = runtime_context(settings, db, Clock())
    # The switch's read kept for the whole test, as within its second in production.
    ctx.options = replace(ctx.options, kill_switch_cache_seconds=3600)
    try:
        await tick_bot(ctx, bot_id)
        halted = await load_bot(db, bot_id)
        assert (halted.status, halted.error) == (BotStatus.HALTED, None)
        assert halted.breaker_reason == "kill switch: drill"
        await tick_bot(ctx, bot_id)  # a halted tick: still nothing to fail on
        assert (await load_bot(db, bot_id)).status == BotStatus.HALTED
        assert await orders_of(db, bot_id) == []

        async with db.session_scope() as session:
            await session.execute(update(KillSwitch).values(engaged=False))
            user = await session.get(User, user_id)
            assert user is not None
            reset = await controls.reset_breaker(session, user, bot_id)
        assert reset.bot.status == BotStatus.STARTING  # its start had never run

        # This process read the switch engaged a moment ago and keeps that read a while: the
        # halt reads it again, and the released switch halts nothing.
        await tick_bot(ctx, bot_id)
    finally:
        await ctx.close()
    started = await load_bot(db, bot_id)
    assert (started.status, started.error) == (BotStatus.RUNNING, None)
    assert started.state["paper"]["account_id"]
    assert "start_pending" not in started.state
    assert await orders_of(db, bot_id)  # the grid laid
