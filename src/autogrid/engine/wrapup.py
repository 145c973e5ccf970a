"""The end of a tick: the exchange calls it made go to the breaker, the lease goes back.

One transaction with the bot row locked: the run of successes and failures of this tick's
exchange calls updates the "consecutive errors" count (and may trip the breaker: the bot halts),
then the lease is released and the next tick brought forward if the tick asked for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from autogrid.bots.state import StatePatch, load_state, store_state
from autogrid.engine import repository
from autogrid.engine.context import RuntimeContext
from autogrid.engine.guard import (
    TripCode,
    breaker_of,
    can_halt,
    count_trip,
    fold_calls,
    halt,
    limits_of,
)
from autogrid.scheduling import repository as leases


async def finish(
    ctx: RuntimeContext,
    owner: str,
    bot_id: uuid.UUID,
    calls: Sequence[str | None],
    next_at: datetime | None,
    patch: StatePatch,
    *,
    errors_before: int | None = None,
) -> None:
    """``errors_before``: the breaker's error streak when the tick began, if known. With no
    failed call, no streak to reset and nothing to write, the lease is simply given back."""
    now = ctx.clock()
    tripped = False
    if not patch and errors_before == 0 and all(call is None for call in calls):
        await leases.release_lease_now(ctx.database.engine, bot_id, owner, now, next_at)
        return
    async with ctx.database.session_scope() as session:
        bot = await repository.lock_bot(session, bot_id)
        if bot is None or bot.lease_owner != owner:
            return  # the lease expired and was taken: the new holder owns the row now
        stored = load_state(bot)
        before = breaker_of(stored)
        after = fold_calls(before, limits_of(bot), now, calls) if calls else before
        state = patch.applied_to(stored)
        if after != before:
            state.breaker = after.to_dict()
        if state != stored:
            store_state(bot, state)
        if after.tripped and not before.tripped and can_halt(bot):
            tripped = await halt(session, bot, after.tripped_reason or "exchange errors")
        await leases.release_lease(session, bot_id, owner, now, next_at)
    if tripped:
        count_trip(TripCode.CONSECUTIVE_ERRORS)
