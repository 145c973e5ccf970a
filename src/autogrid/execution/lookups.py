"""Learning what the exchange knows of an order: a restart's unknown outcome, a lookup by id, an
order report (a listed open order, a cancel's answer), and the follow-ups an outcome asks for.

Every answer is applied through ``Transitions.apply_exchange_event``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from autogrid.exchanges import errors
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.trades import fetch_trades
from autogrid.execution.transitions import Step
from autogrid.orders import store as repo
from autogrid.orders.values import report_of, state_of
from autogrid.trading.orders import (
    ExchangeOrderReport,
    OrderState,
    OrderStatus,
    Outcome,
    UnknownPolicy,
    apply_exchange_report,
    next_check_at,
    on_restart,
    resolve_unknown,
)

logger = logging.getLogger(__name__)

_S = OrderStatus
# A lookup's follow-up may look the order up again, this many times in a row at most.
_MAX_DEPTH = 2


async def restart(
    manager: OrderManager,
    order_id: uuid.UUID,
) -> None:
    """A SUBMITTING order found by a new lease holder: its outcome is unknown (our conclusion,
    not the exchange's: applied as a command)."""
    applied = await manager.transitions.apply(order_id, lambda state, _: on_restart(state))
    if applied is not None:
        await follow_up(manager, order_id, applied.outcome, None)


async def look_up(
    manager: OrderManager,
    order_id: uuid.UUID,
    *,
    depth: int = 0,
) -> None:
    """Ask the exchange for the order (an UNKNOWN one when its next check is due) and apply what
    it says, "not found" included."""
    order = await manager.transitions.read(lambda session: repo.get_order(session, order_id))
    if order is None or order.status in (_S.NEW, _S.DENIED):
        return
    now = manager.transitions.clock()
    state = state_of(order)
    due = next_check_at(state, manager.policy)
    if state.status == _S.UNKNOWN and due is not None and now < due:
        return
    eid = order.exchange_order_id
    try:
        found = await manager.connector.fetch_order(
            manager.transitions.bot.symbol,
            exchange_order_id=eid,
            # An UNKNOWN order has no exchange id: its client order id is the only key.
            client_order_id=None if eid else order.client_order_id,
        )
    except errors.ExchangeError as error:
        logger.info("lookup of %s failed: %s", order.client_order_id, error)
        return
    report = report_of(found) if found is not None else None
    applied = await manager.transitions.apply_exchange_event(
        order_id, learn(report, now, manager.policy)
    )
    if applied is not None:
        await follow_up(manager, order_id, applied.outcome, report, depth=depth)


async def apply_report(
    manager: OrderManager,
    order_id: uuid.UUID,
    report: ExchangeOrderReport,
) -> None:
    """What the exchange reported of the order (listed open, say), and its follow-ups."""
    step = learn(report, manager.transitions.clock(), manager.policy)
    applied = await manager.transitions.apply_exchange_event(order_id, step)
    if applied is not None:
        await follow_up(manager, order_id, applied.outcome, report)


async def follow_up(
    manager: OrderManager,
    order_id: uuid.UUID,
    outcome: Outcome,
    report: ExchangeOrderReport | None,
    *,
    depth: int = 0,
) -> None:
    """Act on an outcome's follow-ups: fetch missing trades (then re-apply the report, so a
    reported end is adopted), look the order up."""
    if depth > _MAX_DEPTH:
        return
    if outcome.needs_trade_fetch:
        await fetch_trades(manager, [order_id])
        if report is not None:
            step = learn(report, manager.transitions.clock(), manager.policy)
            again = await manager.transitions.apply_exchange_event(order_id, step)
            if again is not None and again.outcome.needs_lookup:
                await look_up(manager, order_id, depth=depth + 1)
    if outcome.needs_lookup:
        await look_up(manager, order_id, depth=depth + 1)


def learn(report: ExchangeOrderReport | None, now: datetime, policy: UnknownPolicy) -> Step:
    """What a lookup (or a listed open order) says, applied to whatever the row is now."""

    def step(state: OrderState, _: set[str]) -> Outcome:
        if state.status == _S.UNKNOWN:
            return resolve_unknown(state, report, now, policy)
        if report is None or state.status in (_S.NEW, _S.DENIED):
            # "Not found" proves nothing about an order we had seen (or are still sending).
            return Outcome(order=state)
        return apply_exchange_report(state, report)

    return step
