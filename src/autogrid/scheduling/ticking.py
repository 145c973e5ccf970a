"""Ticking one bot: take its lease, run one bot step under it, give the lease back.

``tick_bot`` is what every task calls, under a lease taken with its batch (``claims.tick_many``)
or on its own. Idempotent: a redelivered or duplicated tick that cannot take the lease does
nothing; one that can just runs a normal step. The lease is renewed by a heartbeat while the step
runs, and given back however the step ended, with what the step left to write (its exchange
calls for the breaker, its state patch, when to tick next).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from autogrid.engine.context import RuntimeContext
from autogrid.engine.leasing import LeaseLost
from autogrid.engine.step import BotStep
from autogrid.observability.metrics import BOT_TICK_SECONDS
from autogrid.scheduling.lease import Lease


@dataclass(slots=True)
class TickResult:
    ran: bool  # False: the lease was held elsewhere, or the bot does not tick
    status: str | None = None


async def tick_bot(
    ctx: RuntimeContext, bot_id: uuid.UUID, lease: Lease | None = None
) -> TickResult:
    """Tick under ``lease`` if given (taken with its batch, ``Lease.take_many``), else take one."""
    if lease is None:
        lease = Lease(ctx, bot_id)
        if not await lease.acquire():
            return TickResult(False)
    else:
        try:
            await lease.keep()  # it may have waited for its turn: renewed, or lost meanwhile
        except LeaseLost:
            return TickResult(False)
    started = time.perf_counter()
    step = BotStep(ctx, bot_id, lease)
    lease.start_heartbeat()
    try:
        await step.run()
    finally:
        await lease.stop_heartbeat()
        await step.settle()
        if lease.held:
            await lease.release(step.end())
        if step.bot_type is not None:
            BOT_TICK_SECONDS.labels(step.bot_type).observe(time.perf_counter() - started)
    return TickResult(True, step.status)
