"""Whose budget a post to the signal entry spends, before anything is stored.

A token that opens an enabled source spends that source's own budget (``SIGNAL_RATE_LIMIT``):
TradingView sends every user's alerts from a few shared addresses, which one per-address budget
would exhaust for all of them. Any other token spends the anonymous per-address budget, the one
the rest of the API's anonymous calls spend, so a flood of made-up tokens is throttled as before.
A refused post is answered 429 and not stored: recording each would let a flood fill the table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.api.rate_limits import ApiRateLimiter, Verdict
from autogrid.signals import repository
from autogrid.signals.tokens import hash_token


@dataclass(frozen=True, slots=True)
class Presented:
    """A posted token, hashed once, and the enabled source it opened when the post was counted
    (None: none; the intake then answers 404 without looking again)."""

    token_hash: str
    source_id: uuid.UUID | None


async def identify(session: AsyncSession, token: str) -> Presented:
    """Which enabled source the token opens, read without a lock (the intake then claims it)."""
    token_hash = hash_token(token)
    return Presented(token_hash, await repository.source_id_by_token(session, token_hash))


async def spend(
    limiter: ApiRateLimiter, presented: Presented, client_host: str | None
) -> Verdict | None:
    """Count the post; None when the limiter's storage is down (the post passes, as everywhere)."""
    if presented.source_id is None:
        caller = limiter.limits.anonymous_caller(client_host)
    else:
        caller = limiter.limits.signal_source_caller(presented.source_id)
    return await limiter.hit(caller)
