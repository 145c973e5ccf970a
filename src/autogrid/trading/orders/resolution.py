"""Settling an UNKNOWN order by looking up its client order id, and only that way.

A just-created order can be "not found" for a few seconds (eventual consistency), so "not found"
counts only after enough spaced lookups *and* a grace window since submission. Then, and only
then, the order is concluded never placed (REJECTED) and its client order id retired: the
replacement the caller places (``replace_at``) is a new order with a new id, because Binance
accepts a repeated ``newClientOrderId`` once the first order is no longer open, so resending
could trade twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from autogrid.trading.orders._change import change
from autogrid.trading.orders.reports import reconcile
from autogrid.trading.orders.states import OrderStatus
from autogrid.trading.orders.transitions import IllegalTransition
from autogrid.trading.orders.values import ExchangeOrderReport, OrderState, Outcome


@dataclass(frozen=True, slots=True)
class UnknownPolicy:
    # Measured from ``submitted_at``; must comfortably exceed the create call's own timeout plus
    # the exchange's visibility lag, or a slow create could be concluded lost while it lands.
    grace_seconds: float = 60
    # "Not found" lookups needed, each at least ``spacing_seconds`` after the previous one.
    max_checks: int = 5
    spacing_seconds: float = 10

    def __post_init__(self) -> None:
        if self.grace_seconds < 0 or self.spacing_seconds < 0:
            raise ValueError("grace_seconds and spacing_seconds cannot be negative")
        if self.max_checks < 1:
            raise ValueError("max_checks must be at least 1")

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.grace_seconds)

    @property
    def spacing(self) -> timedelta:
        return timedelta(seconds=self.spacing_seconds)


def next_check_at(order: OrderState, policy: UnknownPolicy) -> datetime | None:
    """When the next lookup of an UNKNOWN order counts (None: not UNKNOWN)."""
    if order.status != OrderStatus.UNKNOWN:
        return None
    if order.last_checked_at is None:
        return order.submitted_at
    return order.last_checked_at + policy.spacing


def resolve_unknown(
    order: OrderState,
    lookup: ExchangeOrderReport | None,
    now: datetime,
    policy: UnknownPolicy,
) -> Outcome:
    """Apply the answer to "GET order by client order id", made at ``now``.

    Found: reconciled like any report (OPEN, PARTIALLY_FILLED, CANCELED, ... and a fetch-trades
    request if the exchange shows fills we lack). ``None`` (not found): stays UNKNOWN with
    ``unknown_checks + 1`` and ``next_check_at`` while fewer than ``max_checks`` counted lookups
    were made or the grace window is still open; a lookup sooner than ``spacing`` after the last
    counted one is not counted. After both are exhausted: REJECTED with
    ``requires_new_client_order_id``, and the intent is placed again at once (``replace_at``).
    """
    if order.status != OrderStatus.UNKNOWN:
        raise IllegalTransition(order.status, None, "only an UNKNOWN order is resolved")
    if order.submitted_at is None:
        # Without it the grace window has no start, and concluding early could trade twice.
        raise ValueError(f"UNKNOWN order {order.client_order_id} has no submitted_at")
    if lookup is not None:
        found = reconcile(order, lookup, f"found by client order id: {lookup.status.value}")
        return replace(found, order=replace(found.order, last_checked_at=now))

    due = next_check_at(order, policy)
    if due is not None and now < due:
        return Outcome(order=order, next_check_at=due)
    checks = order.unknown_checks + 1
    grace_ends = order.submitted_at + policy.grace
    if checks >= policy.max_checks and now >= grace_ends:
        elapsed = (now - order.submitted_at).total_seconds()
        reason = f"not found after {checks} lookups over {elapsed:g}s"
        updated, transition = change(
            order,
            OrderStatus.REJECTED,
            reason,
            {"unknown_checks": str(checks)},
            unknown_checks=checks,
            last_checked_at=now,
            error=reason,
        )
        return Outcome(
            order=updated, transition=transition, requires_new_client_order_id=True, replace_at=now
        )
    retry_at = now + policy.spacing
    if checks >= policy.max_checks:
        retry_at = max(retry_at, grace_ends)
    updated = replace(order, unknown_checks=checks, last_checked_at=now)
    return Outcome(order=updated, next_check_at=retry_at)
