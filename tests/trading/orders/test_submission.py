from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from autogrid.trading.orders import (
    AnomalyKind,
    IllegalTransition,
    OrderSide,
    OrderStatus,
    OrderType,
    apply_fill,
    new_order,
    on_acknowledged,
    on_ambiguous,
    on_denied,
    on_refused,
    on_rejected,
    on_restart,
    on_submit_started,
)
from autogrid.trading.orders import ExchangeOrderStatus as X
from tests.trading.orders.factories import T0, fill, order, report

S = OrderStatus


def test_new_order_starts_new_with_a_creation_event() -> None:
    outcome = new_order("cid-1", OrderSide.SELL, OrderType.LIMIT, Decimal("1"), Decimal("5"))
    assert outcome.order.status == S.NEW
    assert outcome.order.filled == 0
    assert outcome.transition is not None
    assert (outcome.transition.from_status, outcome.transition.to_status) == (None, S.NEW)


def test_order_values_reject_impossible_quantities() -> None:
    with pytest.raises(ValueError):
        order(S.OPEN, filled=Decimal("3"))
    with pytest.raises(ValueError):
        order(S.NEW, amount=Decimal("0"))
    with pytest.raises(ValueError):
        order(S.FILLED, filled=Decimal("1"))  # FILLED means every unit filled
    with pytest.raises(ValueError):
        order(S.PENDING_CANCEL, filled=Decimal("2"))  # complete but not FILLED


def test_submit_started_stamps_the_time_and_is_not_repeatable() -> None:
    started = on_submit_started(order(S.NEW), T0)
    assert started.order.status == S.SUBMITTING
    assert started.order.submitted_at == T0
    # A second worker finding it SUBMITTING must not send it again.
    with pytest.raises(IllegalTransition):
        on_submit_started(started.order, T0)


@pytest.mark.parametrize("status", [s for s in OrderStatus if s != S.NEW])
def test_only_a_new_order_can_be_submitted(status: S) -> None:
    with pytest.raises(IllegalTransition):
        on_submit_started(order(status), T0)


def test_acknowledged_without_a_report_is_open_with_the_exchange_id() -> None:
    outcome = on_acknowledged(order(S.SUBMITTING), "x-5")
    assert outcome.order.status == S.OPEN
    assert outcome.order.exchange_order_id == "x-5"
    assert outcome.transition is not None and outcome.transition.reason == "acknowledged"


def test_acknowledged_filled_without_trades_waits_for_them() -> None:
    outcome = on_acknowledged(order(S.SUBMITTING), "x-5", report(X.CLOSED, "2", None))
    assert outcome.order.status == S.OPEN
    assert outcome.missing_fill_amount == Decimal("2")


def test_acknowledged_twice_is_a_no_op() -> None:
    first = on_acknowledged(order(S.SUBMITTING), "x-5")
    second = on_acknowledged(first.order, "x-5")
    assert second.order == first.order
    assert second.transition is None


def test_an_acknowledgement_after_a_racing_fill_does_not_move_backwards() -> None:
    raced = apply_fill(order(S.SUBMITTING), fill("t1", "1"), applied_trade_ids=frozenset())
    outcome = on_acknowledged(raced.order, "x-5", report(X.OPEN, "0", "x-5"))
    assert outcome.order.status == S.PARTIALLY_FILLED
    assert outcome.order.filled == Decimal("1")


def test_an_acknowledgement_carrying_another_id_is_a_bug() -> None:
    with pytest.raises(ValueError):
        on_acknowledged(order(S.SUBMITTING), "x-5", report(X.OPEN, "0", "x-6"))


def test_a_definitive_rejection_retires_the_client_order_id() -> None:
    outcome = on_rejected(order(S.SUBMITTING), "insufficient funds")
    assert outcome.order.status == S.REJECTED
    assert outcome.order.error == "insufficient funds"
    assert outcome.requires_new_client_order_id
    again = on_rejected(outcome.order, "insufficient funds")
    assert again.order == outcome.order and again.transition is None


def test_a_definitive_rejection_asks_for_no_replacement() -> None:
    """The strategy hears of it; placing the same order again would be refused again."""
    assert on_rejected(order(S.SUBMITTING), "insufficient funds").replace_at is None


def test_a_refused_create_is_retired_and_placed_again_after_the_wait() -> None:
    retry_at = T0 + timedelta(seconds=7)
    outcome = on_refused(order(S.SUBMITTING), "refused: 429", retry_at)
    assert outcome.order.status == S.REJECTED and outcome.order.error == "refused: 429"
    assert outcome.requires_new_client_order_id
    assert outcome.replace_at == retry_at
    assert outcome.transition is not None
    # A repeat (a redelivered answer) changes nothing and asks for no second replacement.
    again = on_refused(outcome.order, "refused: 429", retry_at)
    assert again.transition is None and again.replace_at is None


def test_a_refusal_after_the_order_proved_to_exist_asks_for_no_replacement() -> None:
    start = order(S.OPEN)
    outcome = on_refused(start, "refused: 429", T0)
    assert outcome.order == start and outcome.replace_at is None
    assert not outcome.requires_new_client_order_id
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.REPORT_CONTRADICTS_STATE]


@pytest.mark.parametrize("never_sent", [S.NEW, S.DENIED])
def test_an_unsent_order_cannot_be_refused(never_sent: S) -> None:
    with pytest.raises(IllegalTransition):
        on_refused(order(never_sent), "refused", T0)


def test_a_rejection_after_the_order_proved_to_exist_is_flagged_not_applied() -> None:
    start = order(S.PARTIALLY_FILLED, filled=Decimal("1"), average_price=Decimal("100"))
    outcome = on_rejected(start, "insufficient funds")
    assert outcome.order == start
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.REPORT_CONTRADICTS_STATE]


def test_an_ambiguous_create_becomes_unknown_and_asks_for_a_lookup() -> None:
    outcome = on_ambiguous(order(S.SUBMITTING), "timeout")
    assert outcome.order.status == S.UNKNOWN
    assert outcome.order.error == "timeout"
    assert outcome.needs_lookup
    assert not outcome.requires_new_client_order_id


def test_an_ambiguous_create_after_a_racing_ack_keeps_the_known_state() -> None:
    start = order(S.OPEN)
    outcome = on_ambiguous(start, "timeout")
    assert outcome.order == start
    assert outcome.transition is None


@pytest.mark.parametrize("never_sent", [S.NEW, S.DENIED])
def test_results_for_an_order_never_sent_raise(never_sent: S) -> None:
    with pytest.raises(IllegalTransition):
        on_ambiguous(order(never_sent), "timeout")
    with pytest.raises(IllegalTransition):
        on_rejected(order(never_sent), "nope")
    with pytest.raises(IllegalTransition):
        on_acknowledged(order(never_sent), "x-1")


def test_restart_turns_only_submitting_into_unknown() -> None:
    crashed = on_restart(order(S.SUBMITTING))
    assert crashed.order.status == S.UNKNOWN
    assert crashed.transition is not None
    assert crashed.transition.reason == "restarted while submitting"
    for status in OrderStatus:
        if status != S.SUBMITTING:
            assert on_restart(order(status)).order == order(status)


def test_denied_only_before_sending() -> None:
    outcome = on_denied(order(S.NEW), "circuit breaker tripped")
    assert outcome.order.status == S.DENIED
    assert outcome.order.error == "circuit breaker tripped"
    with pytest.raises(IllegalTransition):
        on_denied(order(S.OPEN), "too late")
