"""A DCA bot with an indicator start condition in a paper replay: the runtime fetches the start
condition's candles (its timeframe, not a top-level one) and trades exactly like the backtest."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import BotStatus
from tests.exchanges.paper.helpers import real_candles
from tests.support.factories import load_bot
from tests.support.replay_checks import (
    backtest_trades,
    bot_trades,
    replay_in_process,
    stored_arrays,
)

D = Decimal
CANDLES = 500
DCA: dict[str, Any] = {
    "base_order_volume": "1000",
    "safety_order_volume": "1000",
    "safety_order_step_percentage": "0.3",
    "take_profit": "0.2",
    "max_safety_orders": 3,
    "active_safety_orders_count": 2,
    # SMA windows come out the same from the bot's short window as from the whole series.
    "start_condition": {
        "strategy": "ma_cross",
        "fast": 5,
        "slow": 10,
        "kind": "sma",
        "timeframe": "1m",
    },
}


async def test_a_replayed_dca_bot_opens_its_deals_on_the_signals_like_the_backtest(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    candles = real_candles(CANDLES)
    want, _ = backtest_trades("dca", DCA, await stored_arrays(db, candles), D(20_000))
    opened = [trade for trade in want if trade[1].endswith(".BO")]
    assert len(opened) >= 5 and opened[0][0] > candles[10].ts  # not at once: at the first signal

    bot_id = await replay_in_process(settings, db, user_id, "dca", DCA, candles, D(20_000))

    assert (await load_bot(db, bot_id)).status == BotStatus.STOPPED  # the replay is over
    assert await bot_trades(db, bot_id) == want
