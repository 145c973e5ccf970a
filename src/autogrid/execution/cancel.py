"""Cancelling: the request is committed first (PENDING_CANCEL), then the cancel is sent; the
exchange's answer goes back through ``Transitions.apply_exchange_event``. Cancels are idempotent,
so a PENDING_CANCEL order's cancel is simply sent again until it is answered.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from autogrid.exchanges import errors
from autogrid.execution.lookups import follow_up
from autogrid.execution.order_manager import OrderManager
from autogrid.orders import store as repo
from autogrid.orders.values import report_of
from autogrid.trading.orders import (
    IllegalTransition,
    OrderStatus,
    on_cancel_acknowledged,
    on_cancel_failed_not_found,
    on_cancel_requested,
)

logger = logging.getLogger(__name__)


async def request_cancel(
    manager: OrderManager,
    order_id: uuid.UUID,
) -> None:
    """Cancel now (own transaction), then send it if anything is live on the exchange."""
    try:
        applied = await manager.transitions.apply(
            order_id, lambda state, _: on_cancel_requested(state)
        )
    except IllegalTransition:
        return  # in flight: resolved first, see OrderWriter.cancel_in
    if applied is not None and applied.outcome.send_cancel:
        await send_cancel(manager, order_id)


async def send_cancel(
    manager: OrderManager,
    order_id: uuid.UUID,
) -> None:
    """(Re-)send the cancel of a PENDING_CANCEL order and apply the answer."""
    order = await manager.transitions.read(lambda session: repo.get_order(session, order_id))
    if order is None or order.status != OrderStatus.PENDING_CANCEL:
        return
    eid = order.exchange_order_id
    try:
        answer = await manager.connector.cancel_order(
            manager.transitions.bot.symbol,
            exchange_order_id=eid,
            client_order_id=None if eid else order.client_order_id,
        )
    except errors.ExchangeError as error:
        logger.info("cancel of %s not confirmed (%s): resent later", order.client_order_id, error)
        return
    if answer is None:
        report = None
        applied = await manager.transitions.apply_exchange_event(
            order_id, lambda state, _: on_cancel_failed_not_found(state)
        )
    else:
        # Binance answers a cancel with the *cancel request's* client id (the original is
        # origClientOrderId): the exchange order id is what identifies the order here.
        report = replace(report_of(answer), client_order_id=None)
        applied = await manager.transitions.apply_exchange_event(
            order_id, lambda state, _: on_cancel_acknowledged(state, report)
        )
    if applied is not None:
        await follow_up(manager, order_id, applied.outcome, report)
