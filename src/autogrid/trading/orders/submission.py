"""From intent to acknowledged order: create, deny, send, and the three ways a send can end.

The sequence the order manager follows, each step committed before the next:
``new_order`` (row + client order id) -> ``on_submit_started`` (SUBMITTING) -> the network call
-> ``on_acknowledged`` | ``on_rejected`` | ``on_refused`` | ``on_ambiguous``. After a crash,
``on_restart`` turns a SUBMITTING order into UNKNOWN, which only ``resolve_unknown`` can settle.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from autogrid.trading.orders._change import change
from autogrid.trading.orders.reports import reconcile
from autogrid.trading.orders.states import (
    NEVER_SENT_STATUSES,
    OrderSide,
    OrderStatus,
    OrderType,
)
from autogrid.trading.orders.transitions import IllegalTransition
from autogrid.trading.orders.values import (
    Anomaly,
    AnomalyKind,
    ExchangeOrderReport,
    ExchangeOrderStatus,
    OrderState,
    Outcome,
    Transition,
)

_S = OrderStatus


def new_order(
    client_order_id: str,
    side: OrderSide,
    order_type: OrderType,
    amount: Decimal,
    price: Decimal | None,
) -> Outcome:
    """A NEW order and its creation event (``from_status`` None). Persist both before sending."""
    order = OrderState(
        client_order_id=client_order_id,
        side=side,
        type=order_type,
        amount=amount,
        price=price,
    )
    created = Transition(None, _S.NEW, "created", {"amount": str(amount)})
    return Outcome(order=order, transition=created)


def on_denied(order: OrderState, reason: str) -> Outcome:
    """Our own checks refused the order before sending (circuit breaker, market limits)."""
    updated, transition = change(order, _S.DENIED, reason, error=reason)
    return Outcome(order=updated, transition=transition)


def on_submit_started(order: OrderState, now: datetime) -> Outcome:
    """NEW -> SUBMITTING; commit this before the create call.

    Deliberately not idempotent: only a NEW order may be sent, so a second worker (or a retried
    task) that finds the order already SUBMITTING gets IllegalTransition instead of sending again.
    """
    if order.status != _S.NEW:
        raise IllegalTransition(order.status, _S.SUBMITTING, "only a NEW order may be sent")
    updated, transition = change(order, _S.SUBMITTING, "submitting", submitted_at=now)
    return Outcome(order=updated, transition=transition)


def on_acknowledged(
    order: OrderState, exchange_order_id: str, report: ExchangeOrderReport | None = None
) -> Outcome:
    """The create call returned the exchange's order. Without a report it is simply OPEN.

    Idempotent and tolerant of races: if a pushed report or fill got here first, the response
    is reconciled like any other report (it can never move the order backwards).
    """
    if order.status in NEVER_SENT_STATUSES:
        raise IllegalTransition(order.status, None, "an acknowledgement for an unsent order")
    if report is None:
        report = ExchangeOrderReport(ExchangeOrderStatus.OPEN, order.filled, exchange_order_id)
    elif report.exchange_order_id not in (None, exchange_order_id):
        raise ValueError(
            f"acknowledgement for {exchange_order_id} carries a report for"
            f" {report.exchange_order_id}"
        )
    else:
        report = ExchangeOrderReport(
            report.status,
            report.filled,
            exchange_order_id,
            report.client_order_id,
            report.average_price,
        )
    return reconcile(order, report, "acknowledged")


def on_rejected(order: OrderState, reason: str) -> Outcome:
    """The exchange definitively refused the create (insufficient funds, invalid order).

    SUBMITTING -> REJECTED. Repeats are no-ops. If the order already proved to exist (a fill or
    report raced the response) the contradiction is flagged and the proven state kept.
    """
    if order.status == _S.REJECTED:
        return Outcome(order=order, requires_new_client_order_id=True)
    if order.status in NEVER_SENT_STATUSES:
        raise IllegalTransition(order.status, _S.REJECTED, "a rejection for an unsent order")
    if order.status != _S.SUBMITTING:
        anomaly = Anomaly(
            AnomalyKind.REPORT_CONTRADICTS_STATE,
            f"create rejected ({reason}) but the order is already {order.status.value}",
        )
        return Outcome(order=order, anomalies=(anomaly,))
    updated, transition = change(order, _S.REJECTED, reason, error=reason)
    return Outcome(order=updated, transition=transition, requires_new_client_order_id=True)


def on_refused(order: OrderState, reason: str, retry_at: datetime) -> Outcome:
    """The create surely did not execute, for a reason that passes: nothing was sent, or the
    exchange refused it (a rate limit, our clock outside its window) and documents that refusal
    as "not executed". SUBMITTING -> REJECTED like ``on_rejected``, and the intent is to be
    placed again under a new client order id at ``retry_at`` (``replace_at``). Repeats and
    contradictions are handled as ``on_rejected`` does, and ask for no second replacement."""
    outcome = on_rejected(order, reason)
    if outcome.transition is None:
        return replace(outcome, requires_new_client_order_id=False)
    return replace(outcome, replace_at=retry_at)


def on_ambiguous(order: OrderState, reason: str) -> Outcome:
    """The create may or may not have reached the exchange (timeout, 5xx, lost connection).

    SUBMITTING -> UNKNOWN; the caller must then resolve it by client order id, never resend.
    A no-op if the order is already UNKNOWN or already proved to exist.
    """
    if order.status in NEVER_SENT_STATUSES:
        raise IllegalTransition(order.status, _S.UNKNOWN, "an unsent order cannot be ambiguous")
    if order.status != _S.SUBMITTING:
        return Outcome(order=order, needs_lookup=order.status == _S.UNKNOWN)
    updated, transition = change(order, _S.UNKNOWN, reason, error=reason, unknown_checks=0)
    return Outcome(order=updated, transition=transition, needs_lookup=True)


def on_restart(order: OrderState) -> Outcome:
    """Apply to every loaded order after a crash: a SUBMITTING order may or may not have been
    received, so it becomes UNKNOWN. Every other status is left as it is."""
    if order.status != _S.SUBMITTING:
        return Outcome(order=order, needs_lookup=order.status == _S.UNKNOWN)
    return on_ambiguous(order, "restarted while submitting")
