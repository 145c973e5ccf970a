"""The end of a step: the exchange calls it made go to the breaker, the lease goes back.

One transaction with the bot row locked (the lease's holder opens it): the run of successes and
failures of this step's exchange calls updates the "consecutive errors" count (and may trip the
breaker: the bot halts), the step's state patch is applied, then the lease is released and the
next tick brought forward if the step asked for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository as bot_rows
from autogrid.bots.state import StatePatch, load_state, store_state
from autogrid.engine.guard import breaker_of, can_halt, fold_calls, halt, limits_of


@dataclass(slots=True)
class StepEnd:
    """What a step leaves to write when it gives its lease back."""

    calls: list[str | None] = field(default_factory=list)  # None: the call worked
    next_at: datetime | None = None  # tick again then (at the latest)
    patch: StatePatch = field(default_factory=StatePatch)
    # The breaker's error streak when the step began, if known.
    errors_before: int | None = None

    @property
    def quiet(self) -> bool:
        """No failed call, no streak to reset and nothing to write: the lease is simply given
        back."""
        return not self.patch and self.errors_before == 0 and all(c is None for c in self.calls)


async def wrap_up(
    session: AsyncSession, owner: str, bot_id: uuid.UUID, end: StepEnd, now: datetime
) -> bool:
    """Write ``end`` in the caller's transaction, which then gives the lease back; True if the
    bot halted (the breaker tripped on exchange errors)."""
    bot = await bot_rows.lock_bot_row(session, bot_id)
    if bot is None or bot.lease_owner != owner:
        return False  # the lease expired and was taken: the new holder owns the row now
    stored = load_state(bot)
    before = breaker_of(stored)
    after = fold_calls(before, limits_of(bot), now, end.calls) if end.calls else before
    state = end.patch.applied_to(stored)
    if after != before:
        state.breaker = after.to_dict()
    if state != stored:
        store_state(bot, state)
    tripped = False
    if after.tripped and not before.tripped and can_halt(bot):
        tripped = await halt(session, bot, after.tripped_reason or "exchange errors")
    return tripped
