"""Applying one fill: exactly once per trade id, never beyond the order's amount."""

from __future__ import annotations

from collections.abc import Set
from decimal import Decimal

from autogrid.trading.orders._change import change, weighted_average_price
from autogrid.trading.orders.states import NEVER_SENT_STATUSES, OrderStatus
from autogrid.trading.orders.transitions import IllegalTransition
from autogrid.trading.orders.values import (
    Anomaly,
    AnomalyKind,
    FillReport,
    OrderState,
    Outcome,
)

_S = OrderStatus
# A fill proves the order exists and moves these to PARTIALLY_FILLED (or FILLED).
_FOLLOWS_FILLS = frozenset({_S.SUBMITTING, _S.UNKNOWN, _S.OPEN, _S.PARTIALLY_FILLED})


def apply_fill(order: OrderState, fill: FillReport, *, applied_trade_ids: Set[str]) -> Outcome:
    """Apply ``fill`` unless its trade id is in ``applied_trade_ids`` (the trade ids already stored
    for this order, read in the same transaction); a repeat is a no-op with ``duplicate_fill``.

    ``filled`` only grows and is clipped at ``amount``: the excess is flagged as an anomaly and the
    fill is still returned for recording, so nothing is silently dropped. Status follows the fills:
    PARTIALLY_FILLED, or FILLED once complete, including late fills on CANCELED/EXPIRED and fills
    racing a PENDING_CANCEL. A fill on a REJECTED order is applied to the quantities but the status
    stays (we had concluded the order never existed: a human must look).
    """
    if fill.trade_id in applied_trade_ids:
        return Outcome(order=order, duplicate_fill=True)
    if order.status in NEVER_SENT_STATUSES:
        raise IllegalTransition(order.status, None, "a fill for an order that was never sent")
    exchange_order_id = _exchange_order_id(order, fill)
    applied = min(fill.amount, order.remaining)
    anomalies = _quantity_anomalies(order, fill, applied)
    filled = order.filled + applied
    average = order.average_price
    if applied > 0:
        average = weighted_average_price(average, order.filled, fill.price, applied)
    fee, fee_currency = _add_fee(order, fill, anomalies)
    late = order.status in (_S.CANCELED, _S.EXPIRED)
    updated, transition = change(
        order,
        _status_after(order, filled),
        "late fill" if late else "fill",
        {"trade_id": fill.trade_id, "amount": str(applied), "filled": str(filled)},
        filled=filled,
        average_price=average,
        fee=fee,
        fee_currency=fee_currency,
        exchange_order_id=exchange_order_id,
    )
    return Outcome(
        order=updated,
        transition=transition,
        recorded_fill=fill,
        applied_amount=applied,
        anomalies=tuple(anomalies),
    )


def _exchange_order_id(order: OrderState, fill: FillReport) -> str | None:
    """The order's exchange id, learnt from the fill if not known yet."""
    exchange_order_id = order.exchange_order_id
    if fill.exchange_order_id is None:
        return exchange_order_id
    if exchange_order_id is not None and exchange_order_id != fill.exchange_order_id:
        # Routing bug: refuse loudly rather than book another order's trade here.
        raise ValueError(
            f"fill {fill.trade_id} is for exchange order {fill.exchange_order_id}, "
            f"not {exchange_order_id}"
        )
    return fill.exchange_order_id


def _quantity_anomalies(order: OrderState, fill: FillReport, applied: Decimal) -> list[Anomaly]:
    anomalies: list[Anomaly] = []
    if applied < fill.amount:
        anomalies.append(
            Anomaly(
                AnomalyKind.FILL_EXCEEDS_AMOUNT,
                f"trade {fill.trade_id} of {fill.amount} exceeds the remaining {order.remaining};"
                f" applied {applied}",
            )
        )
    if order.status == _S.REJECTED:
        anomalies.append(
            Anomaly(
                AnomalyKind.FILL_ON_REJECTED_ORDER,
                f"trade {fill.trade_id} for an order concluded never placed",
            )
        )
    return anomalies


def _add_fee(
    order: OrderState, fill: FillReport, anomalies: list[Anomaly]
) -> tuple[Decimal, str | None]:
    """The order's fee with the fill's added; a fee in another currency is flagged instead."""
    fee, fee_currency = order.fee, order.fee_currency
    if fill.fee == 0:
        return fee, fee_currency
    if fee_currency is None and fee == 0:
        fee_currency = fill.fee_currency
    if fill.fee_currency == fee_currency:
        return fee + fill.fee, fee_currency
    # One column cannot hold two currencies; the fills table keeps this fee exactly.
    anomalies.append(
        Anomaly(
            AnomalyKind.FEE_CURRENCY_MISMATCH,
            f"trade {fill.trade_id} fee {fill.fee} {fill.fee_currency} not added to"
            f" {fee} {fee_currency}",
        )
    )
    return fee, fee_currency


def _status_after(order: OrderState, filled: Decimal) -> OrderStatus:
    if filled >= order.amount and order.status != _S.REJECTED:
        return _S.FILLED
    if order.status in _FOLLOWS_FILLS:
        return _S.PARTIALLY_FILLED
    return order.status
