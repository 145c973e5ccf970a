"""The statuses an order moves through, and the groups of them the rest of the code asks about.

Values are the lowercase strings stored in ``orders.status`` and ``order_events.*_status``.
"""

from __future__ import annotations

from enum import StrEnum

from autogrid.exchanges.types import OrderType as OrderType  # re-exported
from autogrid.exchanges.types import Side


class OrderStatus(StrEnum):
    # Persisted with its client order id, not yet sent. Nothing exists on the exchange.
    NEW = "new"
    # Committed just before the create call; the call may be in flight. A crash leaves it here, and
    # on restart it becomes UNKNOWN because we cannot tell whether the exchange received it.
    SUBMITTING = "submitting"
    # The create's outcome is ambiguous (timeout, 5xx, lost connection, crash mid-flight). Resolved
    # only by querying the exchange for the client order id, never by sending it again.
    UNKNOWN = "unknown"
    # Acknowledged by the exchange and resting.
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    # We asked the exchange to cancel; until it confirms, fills can still arrive.
    PENDING_CANCEL = "pending_cancel"
    # Terminal states. CANCELED and EXPIRED still accept late fills (see transitions.py).
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # Refused by our own checks (circuit breaker, market limits) before anything was sent.
    DENIED = "denied"


# One vocabulary for sides and types across the exchange layer and the order state machine.
OrderSide = Side


TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.DENIED,
    }
)

# The exchange may hold the order (or may, for UNKNOWN/SUBMITTING): it must be reconciled and it
# counts against "one live order per intent".
IN_FLIGHT_STATUSES: frozenset[OrderStatus] = frozenset(
    {OrderStatus.SUBMITTING, OrderStatus.UNKNOWN}
)
ACKNOWLEDGED_LIVE_STATUSES: frozenset[OrderStatus] = frozenset(
    {OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL}
)
# Never reached the exchange: no report, fill or cancel can be about them.
NEVER_SENT_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.NEW, OrderStatus.DENIED})


def is_terminal(status: OrderStatus) -> bool:
    return status in TERMINAL_STATUSES
