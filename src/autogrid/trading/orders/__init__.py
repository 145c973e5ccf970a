"""The order state machine and the pure updates that drive it.

Every function takes an ``OrderState`` (plus what happened) and returns an ``Outcome``: the new
state, at most one ``Transition`` to record, a fill to record, anomalies, and follow-ups for the
caller (fetch trades, look up, send a cancel, check again at). None of them performs I/O.
"""

from autogrid.trading.orders.cancel import (
    on_cancel_acknowledged,
    on_cancel_failed_not_found,
    on_cancel_requested,
)
from autogrid.trading.orders.fills import apply_fill
from autogrid.trading.orders.reports import apply_exchange_report
from autogrid.trading.orders.resolution import UnknownPolicy, next_check_at, resolve_unknown
from autogrid.trading.orders.states import (
    ACKNOWLEDGED_LIVE_STATUSES,
    IN_FLIGHT_STATUSES,
    NEVER_SENT_STATUSES,
    TERMINAL_STATUSES,
    OrderSide,
    OrderStatus,
    OrderType,
    is_terminal,
)
from autogrid.trading.orders.submission import (
    new_order,
    on_acknowledged,
    on_ambiguous,
    on_denied,
    on_refused,
    on_rejected,
    on_restart,
    on_submit_started,
)
from autogrid.trading.orders.transitions import (
    TRANSITIONS,
    IllegalTransition,
    can_transition,
    check_transition,
)
from autogrid.trading.orders.values import (
    Anomaly,
    AnomalyKind,
    ExchangeOrderReport,
    ExchangeOrderStatus,
    FillReport,
    OrderState,
    Outcome,
    Transition,
)

__all__ = [
    "ACKNOWLEDGED_LIVE_STATUSES",
    "IN_FLIGHT_STATUSES",
    "NEVER_SENT_STATUSES",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "Anomaly",
    "AnomalyKind",
    "ExchangeOrderReport",
    "ExchangeOrderStatus",
    "FillReport",
    "IllegalTransition",
    "OrderSide",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "Outcome",
    "Transition",
    "UnknownPolicy",
    "apply_exchange_report",
    "apply_fill",
    "can_transition",
    "check_transition",
    "is_terminal",
    "new_order",
    "next_check_at",
    "on_acknowledged",
    "on_ambiguous",
    "on_cancel_acknowledged",
    "on_cancel_failed_not_found",
    "on_cancel_requested",
    "on_denied",
    "on_refused",
    "on_rejected",
    "on_restart",
    "on_submit_started",
    "resolve_unknown",
]
