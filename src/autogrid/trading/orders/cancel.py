"""Canceling: request, confirmation, and the "unknown order" answer that proves nothing.

Cancels are idempotent on the exchange, so re-sending one is always safe; concluding "canceled"
without the exchange saying so is not (the order may have filled), hence the lookup.
"""

from __future__ import annotations

from autogrid.trading.orders._change import change
from autogrid.trading.orders.reports import reconcile
from autogrid.trading.orders.states import (
    IN_FLIGHT_STATUSES,
    NEVER_SENT_STATUSES,
    TERMINAL_STATUSES,
    OrderStatus,
)
from autogrid.trading.orders.transitions import IllegalTransition
from autogrid.trading.orders.values import ExchangeOrderReport, OrderState, Outcome

_S = OrderStatus


def on_cancel_requested(order: OrderState) -> Outcome:
    """We want the order gone. NEW -> CANCELED (never sent, nothing to call); OPEN or
    PARTIALLY_FILLED -> PENDING_CANCEL with ``send_cancel``; PENDING_CANCEL again -> no change but
    ``send_cancel`` (re-sending is safe, e.g. after a crash); terminal -> no-op.

    SUBMITTING/UNKNOWN raise IllegalTransition: resolve the order first, then cancel it.
    """
    if order.status == _S.NEW:
        updated, transition = change(order, _S.CANCELED, "withdrawn before sending")
        return Outcome(order=updated, transition=transition)
    if order.status in IN_FLIGHT_STATUSES:
        raise IllegalTransition(order.status, _S.PENDING_CANCEL, "resolve the order first")
    if order.status in TERMINAL_STATUSES:
        return Outcome(order=order)
    updated, transition = change(order, _S.PENDING_CANCEL, "cancel requested")
    return Outcome(order=updated, transition=transition, send_cancel=True)


def on_cancel_acknowledged(order: OrderState, report: ExchangeOrderReport) -> Outcome:
    """The exchange confirmed the cancel; ``report`` is its response, which must carry the
    executed quantity (Binance's does). Fills we have not applied yet are asked for
    (``missing_fill_amount``) and the order stays PENDING_CANCEL until they are, as for any
    report. Where a cancel response lacks the quantity, look the order up instead and apply that
    with ``apply_exchange_report``: concluding CANCELED without it could lose a racing fill.
    A repeat, or an ack after the order filled, changes nothing."""
    if order.status in NEVER_SENT_STATUSES or order.status in IN_FLIGHT_STATUSES:
        raise IllegalTransition(order.status, _S.CANCELED, "no cancel was sent for this order")
    return reconcile(order, report, "cancel acknowledged")


def on_cancel_failed_not_found(order: OrderState) -> Outcome:
    """The exchange answered the cancel with "unknown order". The order may have filled or been
    canceled already (or not be visible yet), so nothing is concluded: the status is kept and
    ``needs_lookup`` asks for a lookup, whose report then goes to ``apply_exchange_report``."""
    if order.status in NEVER_SENT_STATUSES or order.status in IN_FLIGHT_STATUSES:
        raise IllegalTransition(order.status, None, "no cancel was sent for this order")
    return Outcome(order=order, needs_lookup=order.status not in TERMINAL_STATUSES)
