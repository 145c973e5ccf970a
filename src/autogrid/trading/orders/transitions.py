"""The order state machine as one explicit table. Any status change not listed here is a bug.

A status change is a move to a *different* status; updates that only grow ``filled`` (a fill on a
PENDING_CANCEL or CANCELED order, say) change no status and so need no edge.
"""

from __future__ import annotations

from collections.abc import Mapping

from autogrid.trading.orders.states import OrderStatus

_S = OrderStatus

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset(
        {
            _S.SUBMITTING,  # committed just before the create call
            _S.DENIED,  # our own checks (circuit breaker, market limits) refused it
            _S.CANCELED,  # withdrawn before sending: nothing exists on the exchange to cancel
        }
    ),
    _S.SUBMITTING: frozenset(
        {
            _S.OPEN,  # acknowledged, resting
            _S.PARTIALLY_FILLED,  # acknowledged with a first fill (or a fill raced the response)
            _S.FILLED,  # acknowledged fully filled (market orders, crossing limits)
            _S.CANCELED,  # IOC remainder canceled at once; some exchanges report it so
            _S.EXPIRED,  # IOC/FOK that did not match, as Binance reports it
            _S.REJECTED,  # definitive refusal in the create response (funds, invalid order)
            _S.UNKNOWN,  # timeout / 5xx / lost connection / crash: we cannot tell
        }
    ),
    # UNKNOWN is left only by what the exchange says about the client order id (a lookup, a
    # report or a fill that proves the order exists), or by REJECTED once a bounded number of
    # spaced lookups over a grace window all said "not found". There is deliberately no edge back
    # to SUBMITTING: resending the same client order id is never allowed (Binance accepts a
    # repeated id once the first order is no longer open, so a resend can trade twice).
    _S.UNKNOWN: frozenset(
        {
            _S.OPEN,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.EXPIRED,
            _S.REJECTED,
        }
    ),
    _S.OPEN: frozenset(
        {
            _S.PARTIALLY_FILLED,  # first fill
            _S.FILLED,  # one fill for the whole amount
            _S.PENDING_CANCEL,  # we asked to cancel
            _S.CANCELED,  # the exchange canceled it on its own (self-trade prevention, delisting)
            _S.EXPIRED,  # time in force ran out
            _S.REJECTED,  # accepted then rejected with no fill (post-only that would cross)
        }
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {
            _S.FILLED,  # the remaining quantity filled
            _S.PENDING_CANCEL,  # we asked to cancel the remainder
            _S.CANCELED,  # the exchange canceled the remainder on its own
            _S.EXPIRED,  # time in force ran out on the remainder
        }
    ),
    # Fills racing the cancel are applied while the status stays PENDING_CANCEL, so the fact that
    # a cancel is outstanding is not forgotten; only a fill that completes the order ends it.
    _S.PENDING_CANCEL: frozenset(
        {
            _S.CANCELED,  # the exchange confirmed the cancel
            _S.FILLED,  # fills raced the cancel and completed the order first
            _S.EXPIRED,  # it expired before the cancel took effect
            _S.REJECTED,  # rejected with no fill before the cancel took effect (post-only)
        }
    ),
    # Late fills: a trade that happened before the cancel/expiry can be learned after it. Filled
    # grows on the terminal order; if it reaches the amount the order really was FILLED
    # (nautilus_trader allows CANCELED -> FILLED for the same reason).
    _S.CANCELED: frozenset({_S.FILLED}),
    _S.EXPIRED: frozenset({_S.FILLED}),
    _S.FILLED: frozenset(),
    # REJECTED is terminal: a fill reported against it is applied to ``filled`` but flagged as an
    # anomaly for a human (we concluded the order did not exist), never a silent status change.
    _S.REJECTED: frozenset(),
    _S.DENIED: frozenset(),
}


class IllegalTransition(Exception):
    """A status change the table does not allow, or an action that makes no sense in a status."""

    def __init__(self, from_status: OrderStatus, to_status: OrderStatus | None, why: str = ""):
        self.from_status = from_status
        self.to_status = to_status
        target = to_status.value if to_status is not None else "(action)"
        detail = f": {why}" if why else ""
        super().__init__(f"illegal order transition {from_status.value} -> {target}{detail}")


def can_transition(from_status: OrderStatus, to_status: OrderStatus) -> bool:
    return to_status in TRANSITIONS[from_status]


def check_transition(from_status: OrderStatus, to_status: OrderStatus) -> None:
    if not can_transition(from_status, to_status):
        raise IllegalTransition(from_status, to_status)
