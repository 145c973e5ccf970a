"""Which bots tick now, and running many ticks on one process.

Beat sends the claim every second. The claim pushes each due bot's ``next_tick_at`` one interval
ahead in the same transaction that selects it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
conditional UPDATE everywhere), commits, and only then are tick tasks sent: a second beat, or a
claim delivered twice, finds nothing due. Bots starting or stopping are due at once (their
``next_tick_at`` is empty or now): the claim is also the safety net for a lost start/stop command.

Ticks are sent in small batches: one task ticks its bots concurrently on the process's loop, so
one worker process keeps up with hundreds of bots (each tick is mostly waiting on the database
or the exchange). Each tick still takes its bot's lease: batches never overlap on a bot.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from autogrid.bots.state import load_state
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.engine import repository
from autogrid.engine.context import RuntimeContext
from autogrid.engine.leasing import LeaseLost
from autogrid.engine.scope import StepAborted
from autogrid.engine.step import TICKING_STATUSES, BotStep
from autogrid.exchanges.errors import ExchangeError
from autogrid.models import BotStatus
from autogrid.orders import store as order_repository
from autogrid.scheduling import repository as leases
from autogrid.scheduling.lease import Lease
from autogrid.scheduling.ticking import tick_bot

logger = logging.getLogger(__name__)

CLAIM_LIMIT = 2000
TICK_BATCH = 20
TICK_CONCURRENCY = 10
RECONCILE_LIMIT = 5000


async def claim_due(database: Database, limit: int = CLAIM_LIMIT) -> list[uuid.UUID]:
    async with database.session_scope() as session:
        return await leases.claim_due_bots(
            session, [s.value for s in TICKING_STATUSES], utcnow(), limit
        )


def batches(bot_ids: Sequence[uuid.UUID], size: int = TICK_BATCH) -> list[list[str]]:
    ids = [str(bot_id) for bot_id in bot_ids]
    return [ids[start : start + size] for start in range(0, len(ids), size)]


async def tick_many(
    ctx: RuntimeContext, bot_ids: Sequence[uuid.UUID], concurrency: int = TICK_CONCURRENCY
) -> int:
    """Tick the bots concurrently (bounded); one failing tick never stops the others.

    Their leases are taken together first (one transaction for the batch, not one per bot); a
    bot named twice is ticked once. A lease that waited for its turn is renewed, or found
    lost, before its tick (``tick_bot``)."""
    gate = asyncio.Semaphore(concurrency)
    distinct = list(dict.fromkeys(bot_ids))
    try:
        held = await Lease.take_many(ctx, distinct) if distinct else {}
    except Exception:
        logger.exception("taking the leases of %d bots failed", len(distinct))
        return 0

    async def one(bot_id: uuid.UUID, lease: Lease) -> bool:
        async with gate:
            try:
                return (await tick_bot(ctx, bot_id, lease)).ran
            except Exception:
                logger.exception("tick of bot %s failed", bot_id)
                return False

    done = await asyncio.gather(*(one(bot_id, lease) for bot_id, lease in held.items()))
    return sum(done)


async def reconcile_bot(ctx: RuntimeContext, bot_id: uuid.UUID) -> bool:
    """The periodic reconciliation of one bot, whatever its status: every open, unknown or
    in-flight order against the exchange, and the exchange's open orders against ours (orders
    we never placed are reported). Sends nothing new. False if the bot was busy or idle."""
    lease = Lease(ctx, bot_id)
    if not await lease.acquire():
        return False
    step = BotStep(ctx, bot_id, lease)
    try:
        bot = lease.bot
        if bot is None or (bot.paper is not None and load_state(bot).paper is None):
            return False  # gone, or never started: nothing on any exchange
        await step.reconcile(bot)
        return True
    except (StepAborted, LeaseLost, ExchangeError) as error:
        logger.info("bot %s: reconciliation incomplete: %s", bot_id, error)
        return False
    finally:
        if lease.held:
            await lease.release(step.end())


async def reconcile_all(ctx: RuntimeContext) -> int:
    """Every bot with orders that may be live on an exchange, and every active bot."""
    async with ctx.database.session_scope() as session:
        with_orders = set(await order_repository.bots_with_live_orders(session, RECONCILE_LIMIT))
        active = {
            bot.id
            for bot in await repository.bots_in(
                session, [BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.HALTED]
            )
        }
    done = 0
    for bot_id in sorted(with_orders | active):
        try:
            done += await reconcile_bot(ctx, bot_id)
        except Exception:
            logger.exception("reconciliation of bot %s failed", bot_id)
    return done
