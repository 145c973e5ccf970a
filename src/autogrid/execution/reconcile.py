"""Bringing a bot's orders in line with the exchange, and carrying out what is committed.

``sync_orders`` (every tick, at start-up and from the periodic reconciliation):
1. an order left SUBMITTING by a previous lease holder may or may not have reached the exchange:
   it becomes UNKNOWN (we hold the lease, so nobody else is sending it);
2. UNKNOWN orders due for a check are looked up by client order id, and only that way;
3. acknowledged live orders are compared with one ``fetch_open_orders`` call: a listed order with
   more filled than we applied has its trades fetched; an order no longer listed is looked up to
   learn how it ended (fills included). Nothing terminal is ever invented;
4. with ``full``: the exchange's open orders the database has never seen are returned, to be
   reported (never cancelled: they may be the user's own);
5. an open order of ours that we had concluded never placed ("not found" past the grace window,
   and placed again since) is a twin of its replacement: recorded (an ``order_anomaly`` event,
   its fills applied) and cancelled, so a tag never keeps two live orders.

``execute_pending`` sends what earlier transactions committed: cancels first (they free funds),
then the NEW orders that are due (a replacement waits out the refusal it replaces), and then the
replacements those sends created, if already due (a clock resynchronised, say).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.repository import lock_bot_row
from autogrid.bots.state import load_state, store_state
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.exchanges import errors
from autogrid.exchanges.types import ExchangeOrder
from autogrid.execution import cancel, lookups, submit
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.replacement import MAX_SUBMIT_ATTEMPTS
from autogrid.orders import store as repo
from autogrid.orders.values import OrderView, is_due, report_of
from autogrid.trading.orders import ACKNOWLEDGED_LIVE_STATUSES, OrderStatus

logger = logging.getLogger(__name__)

_S = OrderStatus
_MAX_REMEMBERED_UNKNOWN = 200


@dataclass(slots=True)
class SyncResult:
    # The bot's non-terminal orders after the sync (fresh).
    live: list[OrderView] = field(default_factory=list)
    # The exchange's open orders (client id, else exchange id) the database does not know.
    unknown_exchange_orders: list[str] = field(default_factory=list)
    exchange_reachable: bool = True


async def load_live(manager: OrderManager) -> list[OrderView]:
    bot_id = manager.bot.bot_id
    return list(await manager.read(lambda session: repo.live_orders(session, bot_id)))


async def fresh(manager: OrderManager, rows: list[OrderView], seen_writes: int) -> list[OrderView]:
    """``rows`` if nothing was written since they were read, else the rows reloaded."""
    return rows if manager.writes == seen_writes else await load_live(manager)


async def sync_orders(
    manager: OrderManager,
    *,
    full: bool = False,
    live: list[OrderView] | None = None,
    ask_exchange: bool = True,
) -> SyncResult:
    """See the module docstring; ``live`` is the bot's non-terminal orders if already read.
    ``ask_exchange=False`` skips comparing with the exchange's open orders: only for a paper
    account whose every change went through this bot's own, cleanly ended ticks."""
    result = SyncResult()
    rows = live if live is not None else await load_live(manager)
    seen = manager.writes
    for order in rows:
        if order.status == _S.SUBMITTING:
            await lookups.restart(manager, order.id)
    for order in rows:
        if order.status in (_S.UNKNOWN, _S.SUBMITTING):
            await lookups.look_up(manager, order.id)
    rows = await fresh(manager, rows, seen)
    acknowledged = [o for o in rows if o.status in ACKNOWLEDGED_LIVE_STATUSES]
    result.live = rows
    if not (acknowledged and ask_exchange) and not full:
        return result
    try:
        listed = await manager.connector.fetch_open_orders(manager.bot.symbol)
    except errors.ExchangeError as error:
        logger.info("open orders of bot %s unavailable: %s", manager.bot.bot_id, error)
        result.exchange_reachable = False
        return result
    seen = manager.writes
    by_exchange_id = {o.exchange_order_id: o for o in listed}
    by_client_id = {o.client_order_id: o for o in listed if o.client_order_id}
    for order in acknowledged:
        seen_open = by_exchange_id.get(order.exchange_order_id or "") or by_client_id.get(
            order.client_order_id
        )
        if seen_open is None:
            await lookups.look_up(manager, order.id)  # no longer open: learn how it ended
        elif seen_open.filled != order.filled or order.status == _S.PENDING_CANCEL:
            await lookups.apply_report(manager, order.id, report_of(seen_open))
    await _cancel_revived(manager, listed, rows)
    result.live = await fresh(manager, rows, seen)
    if full:
        result.unknown_exchange_orders = await _strangers(manager, listed)
    return result


async def _cancel_revived(
    manager: OrderManager, listed: Sequence[ExchangeOrder], rows: Sequence[OrderView]
) -> None:
    """Open on the exchange, REJECTED for us: an order that appeared after the grace window."""
    ours = {o.client_order_id for o in rows}
    others: dict[str, ExchangeOrder] = {}
    for listed_order in listed:
        client_id = listed_order.client_order_id
        if client_id is not None and client_id not in ours:
            others[client_id] = listed_order
    if not others:
        return
    bot_id = manager.bot.bot_id
    revived = await manager.read(
        lambda session: repo.rejected_order_ids(session, bot_id, list(others))
    )
    for client_id, order_id in revived.items():
        twin = others[client_id]
        logger.warning(
            "bot %s: %s found open after it was concluded never placed: cancelling",
            manager.bot.bot_id,
            client_id,
        )
        await lookups.apply_report(
            manager, order_id, report_of(twin)
        )  # the anomaly event, its fills
        try:
            await manager.connector.cancel_order(
                manager.bot.symbol, exchange_order_id=twin.exchange_order_id
            )
        except errors.ExchangeError as error:
            logger.info("cancel of revived %s failed (%s): retried next time", client_id, error)


async def _strangers(manager: OrderManager, listed: Sequence[ExchangeOrder]) -> list[str]:
    ids = {o.client_order_id or o.exchange_order_id for o in listed}
    known = await manager.read(lambda session: repo.known_client_order_ids(session, ids))
    return sorted(ids - known)


async def execute_pending(
    manager: OrderManager, live: list[OrderView] | None = None
) -> list[OrderView]:
    """Send committed cancels, cancel resolved orders whose cancel was wanted, send NEW orders.
    Returns the bot's non-terminal orders afterwards (``live``: them before, if already read)."""
    rows = live if live is not None else await load_live(manager)
    seen = manager.writes
    for order in rows:
        if order.status == _S.PENDING_CANCEL:
            await cancel.send_cancel(manager, order.id)
        elif order.status in (_S.OPEN, _S.PARTIALLY_FILLED) and (order.intent or {}).get(
            "cancel_wanted"
        ):
            await cancel.request_cancel(manager, order.id)
    tried: set[uuid.UUID] = set()
    for _ in range(MAX_SUBMIT_ATTEMPTS):
        now = manager.clock()
        due = [o for o in rows if o.status == _S.NEW and o.id not in tried and is_due(o, now)]
        if not due:
            break
        for order in due:
            tried.add(order.id)
            await submit.submit(manager, order.id)
        rows = await fresh(manager, rows, seen)
        seen = manager.writes
    return await fresh(manager, rows, seen)


async def report_unknown_orders(
    session: AsyncSession, bot_id: uuid.UUID, found: Sequence[str], now: datetime
) -> list[str]:
    """An event for each exchange order the database does not know, once per order id."""
    if not found:
        return []
    bot = await lock_bot_row(session, bot_id)
    if bot is None:
        return []
    state = load_state(bot)
    reported = list(state.unknown_exchange_orders or [])
    new = [order_id for order_id in found if order_id not in reported]
    if not new:
        return []
    state.unknown_exchange_orders = (reported + new)[-_MAX_REMEMBERED_UNKNOWN:]
    store_state(bot, state)
    record_event(
        session,
        user_id=bot.user_id,
        bot_id=bot_id,
        type=EventType.UNKNOWN_EXCHANGE_ORDER,
        message=f"{len(new)} open order(s) on the exchange are not this platform's: left untouched",
        at=now,
        data={"order_ids": new},
    )
    logger.warning("bot %s: unknown exchange orders %s", bot_id, new)
    return new
