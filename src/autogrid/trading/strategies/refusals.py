"""The back-off of a market order refused before it reached the book (pure, shared by the DCA
deal, the smart trade's close and the signal bot's close).

A refusal before the book (pre-trade risk: the owner's daily loss limit, the market's rules; or
the exchange: insufficient balance) leaves no fill and no live order, so a strategy that wants
the order still places it again, never gives up: at the next price the first time (a refusal
that passes costs nothing), then after a delay that doubles from ``RETRY_FIRST`` up to
``RETRY_CAP`` while the refusals go on. Each attempt writes a refused order (its owner is told
of the first only: ``PlaceOrder.attempt``), so a refusal that holds for an hour leaves about ten,
not one per price; an exchange is not hammered with orders it keeps rejecting. A fill ends the
episode (``Backoff()``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from autogrid.trading.strategies.base import StrategyFill

RETRY_FIRST = timedelta(minutes=1)
RETRY_CAP = timedelta(minutes=16)
_RETRY_DOUBLINGS = 4  # RETRY_FIRST * 2**4 == RETRY_CAP


def retry_delay(refusals: int) -> timedelta:
    """How long to wait before placing again a market order refused ``refusals`` times in a
    row."""
    if refusals <= 1:
        return timedelta(0)
    return min(RETRY_FIRST * (1 << min(refusals - 2, _RETRY_DOUBLINGS)), RETRY_CAP)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How many times in a row a market order was refused, and when it may go again."""

    refusals: int = 0
    retry_at: datetime | None = None

    @property
    def attempt(self) -> int:
        """The attempt number of the next placement (1: the first of an episode)."""
        return self.refusals + 1

    def refused(self, now: datetime) -> Backoff:
        """Refused once more, seen at ``now``."""
        refusals = self.refusals + 1
        return Backoff(refusals, now + retry_delay(refusals))

    def lapsed(self, now: datetime) -> bool:
        """Whether the last retry is long past (``RETRY_CAP``) with no refusal since: for orders
        whose acceptance nothing reports (a resting order the exchange took), a refusal now
        starts a new episode rather than adding to an old one."""
        return self.retry_at is not None and now >= self.retry_at + RETRY_CAP

    def waiting(self, now: datetime) -> bool:
        """Whether the refused order must not be placed again yet."""
        return self.retry_at is not None and now < self.retry_at

    def to_dict(self) -> dict[str, Any]:
        at = self.retry_at
        return {"refusals": self.refusals, "retry_at": None if at is None else at.isoformat()}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Backoff:
        """From a stored state's ``refusals`` and ``retry_at`` (absent in states stored before
        them: no back-off)."""
        at = data.get("retry_at")
        retry_at = None if at is None else datetime.fromisoformat(at)
        return Backoff(int(data.get("refusals", 0)), retry_at)


def resting_outcome(
    backoff: Backoff,
    tags: Collection[str],
    fills: Sequence[StrategyFill],
    live: Collection[str],
    now: datetime,
) -> tuple[bool, Backoff]:
    """Of a strategy's resting orders ``tags`` (take-profits, say), at a decision: whether one
    left the book without completing (rejected by the exchange, cancelled by someone else), and
    the back-off after it. A fill of one, or all of them seen resting, ends the back-off (they
    reached the book); one gone unfilled is one refusal more."""
    if not tags:
        return False, backoff
    completed = {fill.tag for fill in fills if fill.order_complete}
    gone = any(tag not in live and tag not in completed for tag in tags)
    if any(fill.tag in tags for fill in fills):
        return gone, Backoff()
    if gone:
        return True, backoff.refused(now)
    return False, Backoff() if backoff.refusals else backoff


def earliest(*moments: datetime | None) -> datetime | None:
    """The soonest of the times given (None: none given)."""
    return min((moment for moment in moments if moment is not None), default=None)
