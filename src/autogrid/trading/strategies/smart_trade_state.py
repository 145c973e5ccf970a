"""A smart trade's memory between decisions, and how it ended.

Stored as plain JSON (``to_dict``/``from_dict``) in the bot's state, so a restart resumes the
trade where it was: its live orders by tag, the position, the stop as it stands, the highest
price seen, which take-profit steps are done, the exit once one fired, and the back-off of a
close refused before the book (``refusals``, ``retry_at``: a restarted worker keeps waiting)
and that of take-profits that left the book unfilled (``targets_backoff``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from autogrid.trading.strategies.refusals import Backoff
from autogrid.trading.strategies.trade_parts import Holding

ZERO = Decimal(0)


class Exit(StrEnum):
    """What closed the trade."""

    TAKE_PROFIT = "take_profit"  # the take-profit steps sold the whole position
    STOP_LOSS = "stop_loss"
    BREAK_EVEN = "break_even"  # the stop, moved to the entry price, was hit
    TRAILING_STOP = "trailing_stop"
    TIMEOUT = "timeout"
    ENTRY_NOT_FILLED = "entry_not_filled"  # the entry left the book without a fill
    REFUSED = "refused"  # the entry could not be placed (minimums, funds, a stop above the price)


@dataclass(frozen=True, slots=True)
class SmartTradeState:
    started_at: datetime | None = None  # the first decision's time (the timeout counts from it)
    seq: int = 0  # order tag counter
    holding: Holding = field(default_factory=Holding)
    bought: Decimal = ZERO  # base bought in all (before base fees)
    spent: Decimal = ZERO  # quote paid for it, quote fees included
    entries: frozenset[str] = frozenset()  # live entry buys
    targets: Mapping[str, int] = field(default_factory=dict)  # live take-profit tag -> step
    steps_done: frozenset[int] = frozenset()
    closer: str | None = None  # the live market sell closing the trade
    stop: Decimal | None = None  # the stop price as it stands
    stop_moved: bool = False  # moved to break-even
    high: Decimal | None = None  # the highest price seen while holding
    exit: Exit | None = None  # set when an exit fired (the trade may still be selling)
    done: bool = False  # nothing held, nothing live: the bot stops
    note: str = ""  # what happened, in short (why an entry was refused, say)
    # The close at market refused before it reached the book: how many times in a row, and
    # when it may be placed again (``refusals.Backoff``).
    refusals: int = 0
    retry_at: datetime | None = None
    # Take-profits that left the book without completing (rejected by the exchange, cancelled
    # by someone else): how many times in a row, and when they may be placed again.
    targets_backoff: Backoff = field(default_factory=Backoff)

    def evolve(self, **changes: Any) -> SmartTradeState:
        return replace(self, **changes)

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.refusals, self.retry_at)

    def backing_off(self, backoff: Backoff) -> SmartTradeState:
        return replace(self, refusals=backoff.refusals, retry_at=backoff.retry_at)

    @property
    def entry_price(self) -> Decimal | None:
        """The average price paid per base bought, fees included."""
        return self.spent / self.bought if self.bought > 0 else None

    def to_dict(self) -> dict[str, Any]:
        h = self.holding
        return {
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "seq": self.seq,
            "holding": [str(h.amount), str(h.cost), str(h.realized_pnl), str(h.fees_quote)],
            "bought": str(self.bought),
            "spent": str(self.spent),
            "entries": sorted(self.entries),
            "targets": dict(sorted(self.targets.items())),
            "steps_done": sorted(self.steps_done),
            "closer": self.closer,
            "stop": _text(self.stop),
            "stop_moved": self.stop_moved,
            "high": _text(self.high),
            "exit": None if self.exit is None else self.exit.value,
            "done": self.done,
            "note": self.note,
            **self.backoff.to_dict(),
            "targets_backoff": self.targets_backoff.to_dict(),
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> SmartTradeState:
        started = data["started_at"]
        return SmartTradeState(
            started_at=None if started is None else datetime.fromisoformat(started),
            seq=int(data["seq"]),
            holding=Holding(*(Decimal(value) for value in data["holding"])),
            bought=Decimal(data["bought"]),
            spent=Decimal(data["spent"]),
            entries=frozenset(data["entries"]),
            targets={str(tag): int(step) for tag, step in data["targets"].items()},
            steps_done=frozenset(int(step) for step in data["steps_done"]),
            closer=data["closer"],
            stop=_dec(data["stop"]),
            stop_moved=bool(data["stop_moved"]),
            high=_dec(data["high"]),
            exit=None if data["exit"] is None else Exit(data["exit"]),
            done=bool(data["done"]),
            note=str(data["note"]),
            # Both back-offs are absent in states stored before them: none.
            targets_backoff=Backoff.from_dict(data.get("targets_backoff", {})),
        ).backing_off(Backoff.from_dict(data))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
