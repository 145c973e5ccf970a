"""Reconciling our order with what the exchange says about it.

A report is one observation that may be stale or reordered, so it is applied monotonically: it
never lowers ``filled``, never reopens a terminal order, and never raises ``filled`` by itself
(only applied trades do; a report ahead of our fills asks the caller to fetch the trades). It
never invents a terminal state either: FILLED comes only from fills adding up to the amount.

A reported end (closed, canceled, expired) is adopted only once our applied fills account for the
reported filled quantity. Until then the order stays live in our records (OPEN, PARTIALLY_FILLED
or PENDING_CANCEL), where periodic reconciliation keeps asking for the missing trades; moving it
to a terminal status first would let a failed trade fetch lose those fills for good, because
terminal orders are not reconciled. After applying the fetched trades, look the order up again
(or re-apply the report) to reach the terminal status.
"""

from __future__ import annotations

from decimal import Decimal

from autogrid.trading.orders._change import change, status_for_filled
from autogrid.trading.orders.states import (
    NEVER_SENT_STATUSES,
    TERMINAL_STATUSES,
    OrderStatus,
)
from autogrid.trading.orders.transitions import IllegalTransition
from autogrid.trading.orders.values import (
    ZERO,
    Anomaly,
    AnomalyKind,
    ExchangeOrderReport,
    ExchangeOrderStatus,
    OrderState,
    Outcome,
)

_S = OrderStatus
_X = ExchangeOrderStatus


def apply_exchange_report(order: OrderState, report: ExchangeOrderReport) -> Outcome:
    """Move ``order`` as far as ``report`` justifies (see the module docstring). The exchange order
    id is adopted if we had none; a report about a different exchange order changes nothing."""
    return reconcile(order, report, f"exchange report: {report.status.value}")


def reconcile(order: OrderState, report: ExchangeOrderReport, reason: str) -> Outcome:
    """``apply_exchange_report`` with the reason the caller wants in the Transition."""
    if report.client_order_id is not None and report.client_order_id != order.client_order_id:
        raise ValueError(
            f"report for {report.client_order_id} applied to order {order.client_order_id}"
        )
    if order.status in NEVER_SENT_STATUSES:
        raise IllegalTransition(order.status, None, "an exchange report for an unsent order")

    exchange_order_id = order.exchange_order_id
    if report.exchange_order_id is not None:
        if exchange_order_id is not None and exchange_order_id != report.exchange_order_id:
            anomaly = Anomaly(
                AnomalyKind.EXCHANGE_ORDER_ID_MISMATCH,
                f"report for exchange order {report.exchange_order_id}, ours is"
                f" {exchange_order_id}: ignored",
            )
            return Outcome(order=order, anomalies=(anomaly,))
        exchange_order_id = report.exchange_order_id

    anomalies: list[Anomaly] = []
    if report.filled > order.amount:
        anomalies.append(
            Anomaly(
                AnomalyKind.REPORTED_FILLED_EXCEEDS_AMOUNT,
                f"exchange reports {report.filled} filled of {order.amount}",
            )
        )
    missing = max(ZERO, min(report.filled, order.amount) - order.filled)
    target = _target_status(order, report, missing, anomalies)
    updated, transition = change(
        order,
        target,
        reason,
        {"reported_status": report.status.value, "reported_filled": str(report.filled)},
        exchange_order_id=exchange_order_id,
    )
    return Outcome(
        order=updated,
        transition=transition,
        anomalies=tuple(anomalies),
        missing_fill_amount=missing,
    )


def _target_status(
    order: OrderState, report: ExchangeOrderReport, missing: Decimal, anomalies: list[Anomaly]
) -> OrderStatus:
    current = order.status
    if current in TERMINAL_STATUSES:
        _note_contradiction(order, report, anomalies)
        # Terminal stays terminal; late fills (CANCELED/EXPIRED -> FILLED) come via apply_fill.
        return current
    # A non-terminal order is never complete (OrderState enforces it): FILLED only comes from
    # apply_fill, so here the status is at most the live one our applied fills imply.
    ends_with_fills_missing = report.status in (_X.CANCELED, _X.EXPIRED) and missing > 0
    if report.status in (_X.OPEN, _X.CLOSED) or ends_with_fills_missing:
        # Not (yet) a terminal status for us: CLOSED ("fully filled") becomes FILLED through the
        # missing trades; CANCELED/EXPIRED wait for theirs (see the module docstring). It is
        # acknowledged, though: SUBMITTING/UNKNOWN move to OPEN/PARTIALLY_FILLED. A PENDING_CANCEL
        # keeps waiting for its cancel's answer (an "open" report may predate the cancel).
        if current == _S.PENDING_CANCEL:
            return current
        return status_for_filled(order, order.filled)
    if report.status == _X.CANCELED:
        return _S.CANCELED
    if report.status == _X.EXPIRED:
        return _S.EXPIRED
    # REJECTED: only believable for an order without any fill.
    if order.filled > 0 or report.filled > 0:
        anomalies.append(
            Anomaly(
                AnomalyKind.REPORT_CONTRADICTS_STATE,
                f"exchange reports rejected for a {current.value} order with fills: ignored",
            )
        )
        return current
    return _S.REJECTED


def _note_contradiction(
    order: OrderState, report: ExchangeOrderReport, anomalies: list[Anomaly]
) -> None:
    """Flag reports a terminal order cannot be reconciled with. A stale OPEN report after a
    cancel, or CLOSED after a cancel (late fills to fetch), are normal and not flagged."""
    current, said = order.status, report.status
    if current == _S.REJECTED and said != _X.REJECTED:
        anomalies.append(
            Anomaly(
                AnomalyKind.ORDER_FOUND_AFTER_REJECTED,
                f"exchange reports {said.value} for an order we concluded was never placed",
            )
        )
    elif (current == _S.FILLED and said in (_X.CANCELED, _X.EXPIRED, _X.REJECTED)) or (
        current in (_S.CANCELED, _S.EXPIRED) and said == _X.REJECTED
    ):
        anomalies.append(
            Anomaly(
                AnomalyKind.REPORT_CONTRADICTS_STATE,
                f"exchange reports {said.value} for a {current.value} order: ignored",
            )
        )
