"""Performance over time: a sample of each active bot's equity, P&L and position per slot.

Samples come from what the runtime already keeps in ``bot.state`` (the ledger of its fills and
the last price it traded at), so recording costs no exchange call. The sample's time is the slot
(``now`` rounded down to the recording interval): running the task twice in a slot, or two beats,
stores one sample, never two.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from autogrid.bots.state import load_state
from autogrid.core.db import Database
from autogrid.models import Bot, BotStatus
from autogrid.observability.metrics import RUNNING_BOTS
from autogrid.runtime import metrics_repository, repository
from autogrid.runtime.decision import investment_of
from autogrid.runtime.stats import Ledger

RECORD_INTERVAL = timedelta(seconds=30)
RECORDED_STATUSES = (BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.HALTED)


def slot_of(now: datetime, interval: timedelta = RECORD_INTERVAL) -> datetime:
    step = int(interval.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=now.tzinfo)


def sample(bot: Bot, ts: datetime) -> dict[str, Any] | None:
    state = load_state(bot)
    price = Decimal(state.last_price) if state.last_price else None
    ledger = Ledger.from_dict(state.ledger)
    unrealized = ledger.unrealized(price)
    base = investment_of(bot.investment, state) or Decimal(0)
    return {
        "bot_id": bot.id,
        "ts": ts,
        "equity": base + ledger.realized + unrealized,
        "realized_pnl": ledger.realized,
        "unrealized_pnl": unrealized,
        "position": ledger.position,
        "price": price,
    }


async def record_metrics(database: Database, now: datetime) -> int:
    """One sample per active bot for the slot of ``now``; returns how many were new."""
    ts = slot_of(now)
    async with database.session_scope() as session:
        bots = await repository.bots_in(session, RECORDED_STATUSES)
        rows = [row for row in (sample(bot, ts) for bot in bots) if row is not None]
        stored = await metrics_repository.insert_ignoring_duplicates(session, rows)
        running = sum(1 for bot in bots if bot.status == BotStatus.RUNNING)
    RUNNING_BOTS.set(running)
    return stored
