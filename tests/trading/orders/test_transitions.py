from __future__ import annotations

import itertools

import pytest

from autogrid.trading.orders import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    OrderStatus,
    can_transition,
    check_transition,
)

S = OrderStatus
ALL_PAIRS = list(itertools.product(OrderStatus, OrderStatus))
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)


def test_status_values_are_the_stored_lowercase_strings() -> None:
    assert S.PARTIALLY_FILLED.value == "partially_filled"
    assert S.PENDING_CANCEL.value == "pending_cancel"
    assert all(len(s.value) <= 20 for s in OrderStatus)  # orders.status is String(20)


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL)
def test_every_edge_not_in_the_table_raises(from_status: S, to_status: S) -> None:
    assert not can_transition(from_status, to_status)
    with pytest.raises(IllegalTransition) as raised:
        check_transition(from_status, to_status)
    assert raised.value.from_status == from_status
    assert raised.value.to_status == to_status


@pytest.mark.parametrize(("from_status", "to_status"), LEGAL)
def test_every_edge_in_the_table_is_allowed(from_status: S, to_status: S) -> None:
    check_transition(from_status, to_status)


def test_no_self_edges() -> None:
    assert all(s not in TRANSITIONS[s] for s in OrderStatus)


def test_terminal_states_only_leave_for_a_late_fill() -> None:
    leaving_terminal = {(a, b) for a, b in LEGAL if a in TERMINAL_STATUSES}
    assert leaving_terminal == {(S.CANCELED, S.FILLED), (S.EXPIRED, S.FILLED)}


def test_nothing_can_be_resent() -> None:
    # Only NEW may become SUBMITTING: an UNKNOWN (or any other) order is never sent again.
    assert {a for a, b in LEGAL if b == S.SUBMITTING} == {S.NEW}
    assert all(S.NEW not in TRANSITIONS[s] for s in OrderStatus)


def test_unknown_is_left_only_for_what_the_exchange_can_report() -> None:
    assert TRANSITIONS[S.UNKNOWN] == {
        S.OPEN,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELED,
        S.EXPIRED,
        S.REJECTED,
    }


def test_denied_only_before_sending() -> None:
    assert {a for a, b in LEGAL if b == S.DENIED} == {S.NEW}


def test_pending_cancel_can_end_filled_when_fills_race_the_cancel() -> None:
    assert can_transition(S.PENDING_CANCEL, S.FILLED)
    assert not can_transition(S.PENDING_CANCEL, S.OPEN)
