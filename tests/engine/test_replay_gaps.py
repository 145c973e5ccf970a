"""A gap in a replay's stored candles: the quiet ticks inside it read no candles, and the candle
that ends it is matched at the first tick that reaches its close, not later."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import BotStatus, PaperAccount
from autogrid.scheduling.ticking import tick_bot
from tests.engine.test_paper_replay import GRID
from tests.exchanges.paper.helpers import MINUTE, real_candles, store_candles
from tests.support.contexts import runtime_context
from tests.support.factories import Clock, load_bot, make_bot

GAP = timedelta(hours=1)


@contextmanager
def candle_reads(db: Database) -> Iterator[list[str]]:
    """The statements that read stored candles while the block runs."""
    seen: list[str] = []

    def note(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "ohlcv" in statement:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def matched_until(db: Database) -> datetime:
    async with db.session_scope() as session:
        found: datetime = (await session.execute(select(PaperAccount.matched_until))).scalar_one()
        return found


async def test_a_gap_in_the_candles_is_crossed_without_reading_them_each_tick(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    candles = real_candles(20)
    after_gap = replace(candles[-1], ts=candles[-1].ts + GAP)
    await store_candles(db, [*candles, after_gap])
    last_close, gap_end = candles[-1].ts + MINUTE, after_gap.ts + MINUTE
    paper = {
        "price_source": "replay",
        "timeframe": "1m",
        "start": last_close.isoformat(),
        "speed": 1,
        "balances": {"USDT": "20000"},
    }
    bot_id = await make_bot(
        db, user_id, status="starting", mode="paper", strategy=GRID, paper=paper
    )
    clock = Clock()
    ctx = runtime_context(settings, db, clock)
    try:
        await tick_bot(ctx, bot_id)  # starts: the ladder rests at the last close
        assert (await load_bot(db, bot_id)).status == BotStatus.RUNNING
        clock.move(5 * 60)  # well inside the gap: a tick finds no candle, and the next one
        await tick_bot(ctx, bot_id)

        with candle_reads(db) as reads:
            for _ in range(3):
                clock.move(60)
                assert (await tick_bot(ctx, bot_id)).ran
        assert reads == []  # nothing can be revealed before the candle after the gap closes
        assert await matched_until(db) == last_close

        clock.now += (gap_end - last_close) - timedelta(minutes=8, seconds=1)  # a second short
        await tick_bot(ctx, bot_id)
        assert await matched_until(db) == last_close
        clock.move(1)  # the replay clock is at its close: matched at once
        await tick_bot(ctx, bot_id)
        assert await matched_until(db) == gap_end
    finally:
        await ctx.close()
