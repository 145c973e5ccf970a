"""Recurring buys of a DCA bot: which slot is due at a tick, and what the bot remembers of them.

Beat drives them through the bots' ticks: a bot with a schedule asks for its next tick at its next
slot (``next_slot_at``), beat's claim sends that tick, and the tick's decision places the slot's
market buy. The buy is part of the decision's one transaction: the ``scheduled_buys`` row (unique
per bot and slot), the order (or its denial by the breaker or the market's rules) and the bot's
``settled_through`` commit together, before anything is sent. A duplicated beat, a redelivered
tick or a worker that died after the commit finds the slot taken; an order committed but not sent
is sent by the next tick, one sent but not answered is resolved by its client order id.

Slots run on the wall clock in the user's time zone (``trading.schedule``), counted from the
bot's start: a restart never buys the slots of the time it was stopped. Slots that passed while
the bot was running but not deciding (workers down, the bot paused) follow its catch-up policy.
Paper replays play recorded time, so they refuse schedules (see bots.validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from autogrid.bots.configs import DcaParams, StrategyParams
from autogrid.bots.state import BotState
from autogrid.trading.schedule import RecurringBuy, decide_slot

NEXT_RUNS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class DueSlot:
    """What a decision settles now: maybe one slot to buy, and the slots it drops."""

    buy: datetime | None
    quote_amount: Decimal
    settled_through: datetime
    missed: int

    @property
    def tag(self) -> str:
        return slot_tag(self.buy) if self.buy is not None else ""


def slot_tag(slot: datetime) -> str:
    """The order's tag: unique among the bot's live orders, never confused with a deal's."""
    return "SB" + slot.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def recurring_buy_of(params: StrategyParams) -> tuple[RecurringBuy, Decimal] | None:
    if not isinstance(params, DcaParams) or params.schedule is None:
        return None
    schedule = params.schedule
    rhythm = RecurringBuy.of(
        every=schedule.every.value if schedule.every is not None else None,
        cron=schedule.cron,
        timezone=schedule.timezone,
        catch_up=schedule.catch_up.value,
    )
    return rhythm, schedule.amount


def schedule_state(state: BotState | None) -> dict[str, Any]:
    """The bot's memory of its recurring buys (``BotState.recurring_buys``), a copy."""
    found = state.recurring_buys if state is not None else None
    return dict(found) if found is not None else {}


def settled_through(state: BotState | None, started_at: datetime | None) -> datetime | None:
    """Every slot up to here is dealt with: the later of the bot's start and the last slot
    bought or dropped in this run."""
    saved = schedule_state(state).get("settled_through")
    moment = datetime.fromisoformat(saved) if saved else None
    if started_at is not None and (moment is None or moment < started_at):
        return started_at
    return moment


def due_slot(
    rhythm: RecurringBuy,
    amount: Decimal,
    state: BotState | None,
    started_at: datetime | None,
    now: datetime,
) -> DueSlot | None:
    since = settled_through(state, started_at) or now
    decision = decide_slot(rhythm, settled_through=since, now=now)
    if decision.settled_through is None:
        return None
    return DueSlot(decision.buy, amount, decision.settled_through, decision.missed)


def next_runs(
    rhythm: RecurringBuy,
    state: BotState | None,
    started_at: datetime | None,
    now: datetime,
    count: int = NEXT_RUNS_SHOWN,
) -> list[datetime]:
    """The next slots the bot will buy, from now (or from the start of a bot not yet running)."""
    since = max(now, settled_through(state, started_at) or now)
    slots = rhythm.slots_after(since)
    return [next(slots) for _ in range(count)]


def settle(state: BotState, due: DueSlot, *, bought: bool) -> dict[str, Any]:
    """The bot's memory of its schedule after ``due`` was dealt with (``bought``: a row and an
    order were written for its slot; False when the slot was dropped or already taken)."""
    memory = schedule_state(state)
    memory["settled_through"] = due.settled_through.isoformat()
    memory["missed"] = int(memory.get("missed", 0)) + due.missed
    if bought and due.buy is not None:
        memory["buys"] = int(memory.get("buys", 0)) + 1
        memory["last_slot"] = due.buy.isoformat()
    return memory
