"""A replayed indicator bot sees only its last ``warmup()`` candles, a backtest the whole series.
Where the window is full, an EMA's forgotten start must weigh nothing, or a crossing this close
flips (this window, with the EMA cross below, traded 19 times in the backtest and 17 in the replay
while the window was five slow periods)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import BotStatus
from autogrid.trading.strategies.signals import AverageKind, MaCrossRule
from tests.support.factories import load_bot
from tests.support.replay_checks import (
    backtest_trades,
    bot_trades,
    candle_window,
    replay_in_process,
    stored_arrays,
)

D = Decimal
EMA_CROSS: dict[str, Any] = {
    "strategy": "ma_cross",
    "fast": 20,
    "slow": 50,
    "kind": "ema",
    "timeframe": "1m",
    "order_quote": "1000",
}
SKIP, COUNT = 10792, 720  # 2025-05-27 11:52 onwards: a near-tie at 23:33


async def test_a_full_window_trades_like_the_whole_series(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    assert MaCrossRule(20, 50, AverageKind.EMA).warmup() < COUNT  # the window does fill up
    candles = candle_window(SKIP, COUNT)
    arrays = await stored_arrays(db, candles)
    want, _ = backtest_trades("indicator", EMA_CROSS, arrays, D(10_000))
    assert len(want) >= 15

    bot_id = await replay_in_process(
        settings, db, user_id, "indicator", EMA_CROSS, candles, D(10_000), steps=240
    )
    assert (await load_bot(db, bot_id)).status == BotStatus.STOPPED  # the replay is over
    assert await bot_trades(db, bot_id) == want
