"""No silent drop: an order that surely never executed (refused by the exchange for a reason that
passes, or UNKNOWN and concluded "not found") is placed again under a new client order id, in the
transaction that retires the old one, so its tag never has two live orders and never none.

An intent that exhausted its attempts is recorded as an event and handed to the caller
(``log.abandoned``), which halts the bot: an exchange that keeps refusing needs a human.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import scheduled_buy_repository as slots
from autogrid.events.types import EventType
from autogrid.execution.order_writer import Intent, OrderWriter
from autogrid.models import Order
from autogrid.orders import store as repo
from autogrid.orders.values import ATTEMPT_KEY, NOT_BEFORE_KEY, REPLACES_KEY, tag_of
from autogrid.trading.orders import Outcome

logger = logging.getLogger(__name__)

# An intent whose order surely never executed is placed again under a new client order id, this
# many times in all (refusals are waited out first); then it is abandoned with an event and the
# bot halts.
MAX_SUBMIT_ATTEMPTS = 5


async def place_again(
    session: AsyncSession,
    writer: OrderWriter,
    order: Order,
    outcome: Outcome,
    replace_at: datetime,
    now: datetime,
) -> list[Outcome]:
    """The pure core says ``order`` never executed and the cause passes (at ``replace_at``): the
    same intent as a NEW order under a new client order id, sent at ``replace_at``; or, attempts
    exhausted or the bot not running, the reason recorded for the owner. Only flushes."""
    intent = dict(order.intent or {})
    if intent.get("cancel_wanted"):
        return []  # withdrawn by the strategy meanwhile: nothing is wanted any more
    tag = tag_of(order)
    reason = outcome.order.error or (outcome.transition.reason if outcome.transition else "")
    attempt = int(intent.get(ATTEMPT_KEY, 1)) + 1
    data: dict[str, Any] = {"tag": tag, "client_order_id": order.client_order_id}
    bot = writer.bot
    if not bot.places_orders:
        message = f"order {tag} {reason}; not placed again: the bot is not running"
        writer.bot_event(session, EventType.ORDER_NOT_PLACED, message, data, now)
        return []
    if attempt > MAX_SUBMIT_ATTEMPTS:
        message = f"order {tag} not placed after {attempt - 1} attempts, last: {reason}"
        writer.bot_event(session, EventType.ORDER_NOT_PLACED, message, data, now)
        writer.log.abandoned.append(message)
        return []
    twins = [
        o
        for o in await repo.live_orders(session, bot.bot_id)
        if o.id != order.id and tag is not None and tag_of(o) == tag
    ]
    if twins:
        # Never two live orders for one tag: it was placed again some other way.
        logger.warning("bot %s: tag %s is live again; no replacement", bot.bot_id, tag)
        return []
    state = outcome.order
    again = Intent(str(tag), state.side, state.type, state.amount, state.price)
    extra = {k: v for k, v in intent.items() if k != "tag"}
    extra[ATTEMPT_KEY] = attempt
    extra[REPLACES_KEY] = order.client_order_id
    extra.pop(NOT_BEFORE_KEY, None)
    if replace_at > now:
        extra[NOT_BEFORE_KEY] = replace_at.isoformat()
    placed, created = writer.add_order(session, again, now, **extra)
    await session.flush()  # the new row exists before a recurring-buy slot points at it
    await slots.relink_order(session, order.id, placed.id)
    data.update(attempt=attempt, replacement=placed.client_order_id)
    when = f" after {replace_at.isoformat()}" if NOT_BEFORE_KEY in extra else ""
    message = f"order {tag} {reason}; placed again{when} (attempt {attempt})"
    writer.bot_event(session, EventType.ORDER_REPLACED, message, data, now)
    return created
