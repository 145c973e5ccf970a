"""The journal's typed payloads: which event an order transition, a fill or a deal makes, with
its message and small JSON ``data`` (Decimals as strings, so no precision is lost)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.events.types import EventType
from autogrid.models import Order
from autogrid.trading.orders import OrderStatus, Outcome
from autogrid.trading.orders.values import FillReport
from autogrid.trading.strategies.dca_state import DealRecord

_S = OrderStatus

# Order transitions the owner hears of. Not here: NEW (the intent, journalled once it is
# sent), UNKNOWN and PENDING_CANCEL (still in flight), and REJECTED, which the order manager
# journals with its consequence: rejected for good (``order_rejected``, the exchange's reason),
# placed again (``order_replaced``) or given up (``order_not_placed``).
ORDER_EVENT_TYPES: Mapping[OrderStatus, EventType] = {
    _S.SUBMITTING: EventType.ORDER_PLACED,
    _S.OPEN: EventType.ORDER_ACKNOWLEDGED,
    _S.PARTIALLY_FILLED: EventType.ORDER_PARTIALLY_FILLED,
    _S.FILLED: EventType.ORDER_FILLED,
    _S.CANCELED: EventType.ORDER_CANCELLED,
    _S.EXPIRED: EventType.ORDER_EXPIRED,
    _S.DENIED: EventType.ORDER_DENIED,
}


@dataclass(frozen=True, slots=True)
class Payload:
    type: EventType
    message: str
    data: dict[str, Any]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def order_payload(order: Order, outcome: Outcome) -> Payload | None:
    """The event an order's transition makes, if its owner hears of it."""
    transition = outcome.transition
    if transition is None or transition.from_status == transition.to_status:
        return None
    type = ORDER_EVENT_TYPES.get(transition.to_status)
    if type is None:
        return None
    state = outcome.order
    tag = (order.intent or {}).get("tag")
    price = f" at {state.price}" if state.price is not None else ""
    message = f"order {tag} ({state.side.value} {state.amount}{price}): {transition.reason}"
    return Payload(
        type,
        message,
        {
            "order_id": str(order.id),
            "client_order_id": order.client_order_id,
            "tag": tag,
            "side": state.side.value,
            "amount": str(state.amount),
            "price": _text(state.price),
            "filled": str(state.filled),
            "status": transition.to_status.value,
            "reason": transition.reason,
        },
    )


def fill_payload(order: Order, fill: FillReport) -> Payload:
    tag = (order.intent or {}).get("tag")
    fee = f" (fee {fill.fee} {fill.fee_currency})" if fill.fee_currency else ""
    return Payload(
        EventType.FILL,
        f"{order.side} {fill.amount} {order.symbol} at {fill.price}{fee}, order {tag}",
        {
            "order_id": str(order.id),
            "tag": tag,
            "trade_id": fill.trade_id,
            "side": order.side,
            "price": str(fill.price),
            "amount": str(fill.amount),
            "fee": str(fill.fee),
            "fee_currency": fill.fee_currency,
            "ts": fill.traded_at.isoformat(),  # as the trades API shows it
        },
    )


def deal_opened_payload(number: int, opened_at: datetime | None) -> Payload:
    return Payload(
        EventType.DEAL_OPENED,
        f"deal {number} opened: its base order is placed",
        {"deal": number, "opened_at": opened_at.isoformat() if opened_at else None},
    )


def deal_closed_payload(deal: DealRecord) -> Payload:
    return Payload(
        EventType.DEAL_CLOSED,
        f"deal {deal.number} closed ({deal.close_reason}): profit {deal.profit}",
        {
            "deal": deal.number,
            "close_reason": deal.close_reason,
            "profit": str(deal.profit),
            "cost": str(deal.cost),
            "proceeds": str(deal.proceeds),
            "amount": str(deal.amount),
            "average_entry": str(deal.average_entry),
            "safety_orders_filled": deal.safety_orders_filled,
        },
    )


def waiting_for_data_payload(needed: int, available: int) -> Payload | None:
    """A strategy that starts with fewer candles than its indicators need waits for them (it
    decides, but cannot act on a signal yet); None when it has them all."""
    if available >= needed:
        return None
    return Payload(
        EventType.WAITING_FOR_DATA,
        f"waiting for data: the strategy needs {needed} closed candles and has {available};"
        " it acts on signals once they are there",
        {"candles_needed": needed, "candles_available": available},
    )


def scheduled_buy_made_payload(slot: datetime, quote_amount: Decimal, tag: str) -> Payload:
    return Payload(
        EventType.SCHEDULED_BUY_MADE,
        f"recurring buy of {quote_amount} for {slot.isoformat()}: order {tag}",
        {"slot": slot.isoformat(), "quote_amount": str(quote_amount), "tag": tag},
    )


def strategy_action_payload(action: str, done: bool, reason: str, tags: Sequence[str]) -> Payload:
    """What a bot that takes signals did on its own (a signal bot's stop-loss sale), or could
    not do (take-profits below the market's minimums)."""
    return Payload(
        EventType.STRATEGY_ACTION,
        f"{action}: {reason}" if done else f"{action} not done: {reason}",
        {"action": action, "done": done, "reason": reason, "tags": list(tags)},
    )


def scheduled_buy_skipped_payload(slot: datetime | None, reason: str, missed: int = 0) -> Payload:
    when = f" for {slot.isoformat()}" if slot is not None else ""
    return Payload(
        EventType.SCHEDULED_BUY_SKIPPED,
        f"recurring buy{when} skipped: {reason}",
        {"slot": slot.isoformat() if slot else None, "reason": reason, "missed": missed},
    )
