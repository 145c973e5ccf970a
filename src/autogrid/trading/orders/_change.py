"""The one place a new ``OrderState`` with a different status is made, so every status change is
checked against the table and yields its ``Transition``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, localcontext
from typing import Any

from autogrid.trading.orders.states import OrderStatus
from autogrid.trading.orders.transitions import check_transition
from autogrid.trading.orders.values import OrderState, Transition

# Matches NUMERIC(38, 18) in the database, so a value computed here survives a round trip
# unchanged and recomputing from a reloaded row gives the same answer.
MONEY_QUANTUM = Decimal(1).scaleb(-18)


def change(
    order: OrderState,
    to_status: OrderStatus,
    reason: str,
    data: Mapping[str, str] | None = None,
    **fields: Any,
) -> tuple[OrderState, Transition | None]:
    """``order`` with ``fields`` replaced and moved to ``to_status``; the Transition is None when
    the status stays the same. Raises IllegalTransition for an edge the table does not allow."""
    if to_status != order.status:
        check_transition(order.status, to_status)
    updated = replace(order, status=to_status, **fields)
    if to_status == order.status:
        return updated, None
    return updated, Transition(order.status, to_status, reason, dict(data or {}))


def weighted_average_price(
    average: Decimal | None, filled: Decimal, price: Decimal, amount: Decimal
) -> Decimal:
    """The quantity-weighted average after adding ``amount`` at ``price`` to ``filled`` at
    ``average``, rounded to the money scale the database stores."""
    total = filled + amount
    if total <= 0:
        raise ValueError("an average needs a positive total quantity")
    # Enough precision that large prices times 18-decimal quantities never round before quantize.
    with localcontext() as ctx:
        ctx.prec = 80
        notional = (average or Decimal(0)) * filled + price * amount
        return (notional / total).quantize(MONEY_QUANTUM)


def status_for_filled(order: OrderState, filled: Decimal) -> OrderStatus:
    """The acknowledged-live status that ``filled`` implies."""
    if filled >= order.amount:
        return OrderStatus.FILLED
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
