"""A bot's memory between ticks (the ``bots.state`` JSON column), as one typed, versioned model.

Read with ``load_state(bot)`` and written with ``store_state(bot, state)``, and nowhere else: no
module reads or writes the column through string keys. The API writes the stop request and
resets the breaker; everything else belongs to the runtime.

Values whose shape is owned by a codec of their own stay JSON objects here, and go through that
codec: the breaker (``trading.breaker.BreakerState.to_dict/from_dict``), the ledger
(``bots.ledger.Ledger``), the strategy's memory (``Strategy.dump_state/load_state``), its wake
condition (``engine.recording.wake_to_dict``) and the recurring buys' memory
(``bots.scheduled_buys``).

Versions: rows written before the model existed carry no ``version``; they are read as version 1
(their keys are version 1's) and stored with it on their next write. A row of a newer version
than this code knows is refused rather than half-understood. Keys this code does not know are
kept as they are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from autogrid.models import Bot

STATE_VERSION = 1
# The keys of a grid's strategy state that hold its orders waiting to be placed again
# (``GridState``): the levels whose sell, and those whose buy, the exchange refused, and when.
GRID_WAIT_KEYS = ("unplaced", "unplaced_buys", "backoff")


class StateError(Exception):
    """A stored state this code cannot read (written by a newer version)."""


class _Part(BaseModel):
    # Unknown keys survive a read and a write: a newer or older writer's data is never dropped.
    model_config = ConfigDict(extra="allow")

    def to_json(self) -> dict[str, Any]:
        """The stored form: None fields left out. Every value is JSON already (checked on
        read, typed on write), so a shallow copy does: pydantic's dump walks every nested
        value, several times the cost of a tick's other state handling."""
        values = {**self.__dict__, **(self.__pydantic_extra__ or {})}
        return {
            name: value.to_json() if isinstance(value, _Part) else value
            for name, value in values.items()
            if value is not None
        }


class StopRequest(_Part):
    """How to stop (written by the API's stop, or by the runtime for a strategy's StopBot)."""

    cancel_orders: bool = True
    sell_base: bool = False
    requested_at: str | None = None  # ISO 8601
    reason: str | None = None  # the strategy's, when it asked


class PaperAccountRef(_Part):
    """The paper account a paper bot trades on, kept while its paper settings are unchanged."""

    account_id: str
    settings: dict[str, Any]


class StopSell(_Part):
    """The market sell of a stop that sells the base: its order, or why there is none."""

    order_id: str | None = None
    skipped: str | None = None
    # Decimal as text: the base the bot had bought in all when the sale was planned; a buy that
    # fills before the stop is over makes it grow, and a second sale sells that too.
    bought: str | None = None


class BotState(_Part):
    version: int = STATE_VERSION
    # Written by the API (and by the runtime for a strategy's StopBot).
    stop_request: StopRequest | None = None
    # Halted while starting (the kill switch, say): its start never ran, so a reset of the
    # breaker starts it again rather than running it. Dropped when a start is carried out.
    start_pending: bool | None = None
    breaker: dict[str, Any] | None = None  # BreakerState.to_dict(); reset by reset_breaker
    # The runtime's.
    paper: PaperAccountRef | None = None
    strategy: dict[str, Any] | None = None  # None: no decision yet this run
    wake: dict[str, Any] | None = None
    live_tags: list[str] | None = None  # the live orders' tags at the last decision
    decided_until: str | None = None  # ISO 8601: the last decision's moment
    ledger: dict[str, Any] | None = None
    # Decimal as text: the ledger's realised P&L with the inbox's fills folded in, as far as it
    # is booked in ``bot_days`` (None: the ledger's own, from before this was kept).
    booked_realized: str | None = None
    # How many inbox fills the last booking outside a decision folded in (None: unknown, or a
    # decision booked since). No decision empties a paused, halted or stopping bot's inbox, so
    # the same size there means nothing new to book (``engine.booking``).
    booked_inbox: int | None = None
    last_price: str | None = None  # Decimal as text
    start_equity: str | None = None  # Decimal as text: a bot without an investment's baseline
    recurring_buys: dict[str, Any] | None = None
    stop_sell: StopSell | None = None
    books_dirty: bool | None = None  # a tick ended half-way: compare with the exchange again
    unknown_exchange_orders: list[str] | None = None  # exchange orders already reported

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "version": STATE_VERSION}


def parse_state(stored: dict[str, Any] | None) -> BotState:
    """A stored ``bots.state`` value, migrated to the current version."""
    data = dict(stored or {})
    version = data.get("version", 0)
    if not isinstance(version, int) or version > STATE_VERSION:
        raise StateError(f"bot state version {version!r} is newer than this code knows")
    # Version 0 (no "version" key): the same keys as version 1.
    data["version"] = STATE_VERSION
    return BotState.model_validate(data)


def load_state(bot: Bot) -> BotState:
    return parse_state(bot.state)


def store_state(bot: Bot, state: BotState) -> None:
    bot.state = state.to_json()


def paper_account_id(bot: Bot) -> uuid.UUID | None:
    """The paper account the bot trades on (None: a live bot, or its start never opened one)."""
    saved = load_state(bot).paper
    return uuid.UUID(saved.account_id) if saved is not None and saved.account_id else None


@dataclass(slots=True)
class StatePatch:
    """What a tick changes besides its decision, written when it gives the lease back."""

    last_price: str | None = None
    books_dirty: bool | None = None

    def __bool__(self) -> bool:
        return self.last_price is not None or self.books_dirty is not None

    def applied_to(self, state: BotState) -> BotState:
        changes = {"last_price": self.last_price, "books_dirty": self.books_dirty}
        return state.model_copy(update={k: v for k, v in changes.items() if v is not None})
