from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from autogrid.trading.orders import ExchangeOrderStatus as X
from autogrid.trading.orders import (
    IllegalTransition,
    OrderState,
    OrderStatus,
    UnknownPolicy,
    next_check_at,
    resolve_unknown,
)
from tests.trading.orders.factories import T0, order, report

S = OrderStatus
POLICY = UnknownPolicy(grace_seconds=30, max_checks=3, spacing_seconds=5)


def unknown() -> OrderState:
    return order(S.UNKNOWN)  # submitted at T0


def not_found_at(start: OrderState, *seconds: float) -> OrderState:
    for second in seconds:
        start = resolve_unknown(start, None, T0 + timedelta(seconds=second), POLICY).order
    return start


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (X.OPEN, S.OPEN),
        (X.CANCELED, S.CANCELED),
        (X.EXPIRED, S.EXPIRED),
        (X.REJECTED, S.REJECTED),
    ],
)
def test_found_moves_to_the_reported_state(said: X, expected: S) -> None:
    outcome = resolve_unknown(
        unknown(), report(said, "0", "x-3"), T0 + timedelta(seconds=2), POLICY
    )
    assert outcome.order.status == expected
    assert outcome.order.exchange_order_id == "x-3"
    assert outcome.order.last_checked_at == T0 + timedelta(seconds=2)
    assert outcome.transition is not None and outcome.transition.from_status == S.UNKNOWN


def test_found_filled_asks_for_the_trades_rather_than_inventing_them() -> None:
    outcome = resolve_unknown(unknown(), report(X.CLOSED, "2"), T0, POLICY)
    assert outcome.order.status == S.OPEN
    assert outcome.order.filled == 0
    assert outcome.missing_fill_amount == Decimal("2")


def test_not_found_within_the_grace_window_stays_unknown_and_schedules_a_check() -> None:
    outcome = resolve_unknown(unknown(), None, T0 + timedelta(seconds=1), POLICY)
    assert outcome.order.status == S.UNKNOWN
    assert outcome.order.unknown_checks == 1
    assert outcome.order.last_checked_at == T0 + timedelta(seconds=1)
    assert outcome.next_check_at == T0 + timedelta(seconds=6)
    assert outcome.transition is None
    assert not outcome.requires_new_client_order_id


def test_a_lookup_sooner_than_the_spacing_is_not_counted() -> None:
    checked = not_found_at(unknown(), 1)
    outcome = resolve_unknown(checked, None, T0 + timedelta(seconds=3), POLICY)
    assert outcome.order == checked
    assert outcome.next_check_at == T0 + timedelta(seconds=6)


def test_enough_checks_but_inside_the_grace_window_stays_unknown_until_it_ends() -> None:
    checked = not_found_at(unknown(), 1, 6)
    outcome = resolve_unknown(checked, None, T0 + timedelta(seconds=11), POLICY)
    assert outcome.order.status == S.UNKNOWN
    assert outcome.order.unknown_checks == 3
    assert outcome.next_check_at == T0 + timedelta(seconds=30)


def test_grace_over_but_too_few_checks_stays_unknown() -> None:
    checked = not_found_at(unknown(), 40)
    outcome = resolve_unknown(checked, None, T0 + timedelta(seconds=45), POLICY)
    assert outcome.order.status == S.UNKNOWN
    assert outcome.order.unknown_checks == 2


def test_not_found_after_grace_and_spaced_checks_is_rejected_and_retires_the_id() -> None:
    checked = not_found_at(unknown(), 1, 6, 11)
    outcome = resolve_unknown(checked, None, T0 + timedelta(seconds=30), POLICY)
    assert outcome.order.status == S.REJECTED
    assert outcome.order.unknown_checks == 4
    assert outcome.requires_new_client_order_id
    assert outcome.replace_at == T0 + timedelta(seconds=30)  # placed again at once
    assert outcome.transition is not None
    assert outcome.transition.reason == "not found after 4 lookups over 30s"


def test_found_late_but_before_the_conclusion_still_wins() -> None:
    checked = not_found_at(unknown(), 1, 6, 11)
    outcome = resolve_unknown(checked, report(X.OPEN), T0 + timedelta(seconds=29), POLICY)
    assert outcome.order.status == S.OPEN


@pytest.mark.parametrize("status", [s for s in OrderStatus if s != S.UNKNOWN])
def test_only_unknown_orders_are_resolved(status: S) -> None:
    with pytest.raises(IllegalTransition):
        resolve_unknown(order(status), None, T0, POLICY)


def test_an_unknown_order_without_a_submission_time_is_never_concluded() -> None:
    with pytest.raises(ValueError):
        resolve_unknown(replace(unknown(), submitted_at=None), None, T0, POLICY)


def test_next_check_at() -> None:
    assert next_check_at(unknown(), POLICY) == T0
    assert next_check_at(not_found_at(unknown(), 2), POLICY) == T0 + timedelta(seconds=7)
    assert next_check_at(order(S.OPEN), POLICY) is None


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        UnknownPolicy(max_checks=0)
    with pytest.raises(ValueError):
        UnknownPolicy(grace_seconds=-1)
