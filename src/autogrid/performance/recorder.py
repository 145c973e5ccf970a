"""Performance over time: a sample of each active bot's equity, P&L and position per slot.

Samples come from what the runtime already keeps in ``bot.state`` (the ledger of its fills and
the last price it traded at), so recording costs no exchange call. The sample's time is the slot
(``now`` rounded down to the recording interval): running the task twice in a slot, or two beats,
stores one sample, never two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from autogrid.bots.ledger import Ledger, investment_of
from autogrid.bots.state import load_state
from autogrid.core.db import Database
from autogrid.engine import repository
from autogrid.models import Bot, BotStatus
from autogrid.observability.metrics import BOTS, METRICS_RECORDED_AT, RUNNING_BOTS, TICK_LAG
from autogrid.performance import repository as metrics_repository

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


class TickTimes(Protocol):
    """What the lag is computed from: a Bot, or a row of just these columns."""

    @property
    def status(self) -> str: ...
    @property
    def last_tick_at(self) -> datetime | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def tick_interval_seconds(self) -> int: ...


def tick_lag_seconds(bots: Iterable[TickTimes], now: datetime) -> float:
    """How far the most overdue running bot is past its next tick; 0 when all are on time.

    From the last tick that *ran*, not from ``next_tick_at``: the claim moves that ahead even
    when no worker is left to run the tick it sends.
    """
    lag = 0.0
    for bot in bots:
        last = bot.last_tick_at or bot.started_at
        if bot.status != BotStatus.RUNNING or last is None:
            continue
        overdue = (now - last).total_seconds() - bot.tick_interval_seconds
        lag = max(lag, overdue)
    return lag


async def record_metrics(database: Database, now: datetime) -> int:
    """One sample per active bot for the slot of ``now``; returns how many were new."""
    ts = slot_of(now)
    async with database.session_scope() as session:
        bots = await repository.bots_in(session, RECORDED_STATUSES)
        rows = [row for row in (sample(bot, ts) for bot in bots) if row is not None]
        stored = await metrics_repository.insert_ignoring_duplicates(session, rows)
        by_status = await metrics_repository.bots_by_status(session)
    RUNNING_BOTS.set(by_status.get(BotStatus.RUNNING, 0))
    for status in BotStatus:
        BOTS.labels(status.value).set(by_status.get(status.value, 0))
    TICK_LAG.set(tick_lag_seconds(bots, now))
    METRICS_RECORDED_AT.set(now.timestamp())
    return stored
