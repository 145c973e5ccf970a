from __future__ import annotations

from decimal import Decimal

import pytest

from autogrid.trading.orders import (
    TERMINAL_STATUSES,
    IllegalTransition,
    OrderStatus,
    apply_exchange_report,
    apply_fill,
    on_cancel_acknowledged,
    on_cancel_failed_not_found,
    on_cancel_requested,
)
from autogrid.trading.orders import ExchangeOrderStatus as X
from tests.trading.orders.factories import fill, order, report

S = OrderStatus


def test_a_new_order_is_withdrawn_without_calling_the_exchange() -> None:
    outcome = on_cancel_requested(order(S.NEW))
    assert outcome.order.status == S.CANCELED
    assert not outcome.send_cancel


@pytest.mark.parametrize("live", [S.OPEN, S.PARTIALLY_FILLED])
def test_a_live_order_becomes_pending_cancel_and_the_cancel_is_sent(live: S) -> None:
    filled = Decimal("1") if live == S.PARTIALLY_FILLED else Decimal(0)
    outcome = on_cancel_requested(order(live, filled=filled))
    assert outcome.order.status == S.PENDING_CANCEL
    assert outcome.send_cancel
    assert outcome.transition is not None


def test_requesting_again_resends_without_a_new_transition() -> None:
    outcome = on_cancel_requested(order(S.PENDING_CANCEL))
    assert outcome.order.status == S.PENDING_CANCEL
    assert outcome.send_cancel
    assert outcome.transition is None


@pytest.mark.parametrize("in_flight", [S.SUBMITTING, S.UNKNOWN])
def test_an_unresolved_order_must_be_resolved_before_canceling(in_flight: S) -> None:
    with pytest.raises(IllegalTransition):
        on_cancel_requested(order(in_flight))


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_canceling_a_terminal_order_does_nothing(terminal: S) -> None:
    filled = Decimal("2") if terminal == S.FILLED else Decimal(0)
    start = order(terminal, filled=filled)
    outcome = on_cancel_requested(start)
    assert outcome.order == start
    assert not outcome.send_cancel


def test_acknowledged_cancel_with_the_exchange_response() -> None:
    outcome = on_cancel_acknowledged(order(S.PENDING_CANCEL), report(X.CANCELED, "0"))
    assert outcome.order.status == S.CANCELED
    assert outcome.transition is not None
    assert outcome.transition.reason == "cancel acknowledged"
    assert not outcome.needs_lookup and not outcome.needs_trade_fetch
    again = on_cancel_acknowledged(outcome.order, report(X.CANCELED, "0"))
    assert again.order == outcome.order and again.transition is None


def test_a_cancel_ack_showing_unseen_fills_waits_for_them_before_canceled() -> None:
    pending = order(S.PENDING_CANCEL)
    acked = on_cancel_acknowledged(pending, report(X.CANCELED, "0.5"))
    assert acked.order.status == S.PENDING_CANCEL  # not terminal while fills are missing
    assert acked.missing_fill_amount == Decimal("0.5")
    fetched = apply_fill(acked.order, fill("t1", "0.5"), applied_trade_ids=frozenset())
    assert fetched.order.status == S.PENDING_CANCEL
    again = on_cancel_acknowledged(fetched.order, report(X.CANCELED, "0.5"))
    assert again.order.status == S.CANCELED
    assert not again.needs_trade_fetch


def test_a_fill_unseen_by_the_cancel_ack_still_counts_later() -> None:
    canceled = on_cancel_acknowledged(order(S.PENDING_CANCEL), report(X.CANCELED, "0")).order
    late = apply_fill(canceled, fill("t1", "2"), applied_trade_ids=frozenset())
    assert late.transition is not None
    assert (late.transition.from_status, late.transition.to_status) == (S.CANCELED, S.FILLED)


def test_cancel_not_found_never_assumes_canceled() -> None:
    start = order(S.PENDING_CANCEL, filled=Decimal("1"), average_price=Decimal("100"))
    outcome = on_cancel_failed_not_found(start)
    assert outcome.order == start
    assert outcome.needs_lookup
    assert outcome.transition is None


def test_cancel_not_found_then_lookup_finds_it_filled() -> None:
    # The order filled on the exchange before our cancel arrived.
    pending = on_cancel_requested(order(S.OPEN)).order
    looked_up = apply_exchange_report(
        on_cancel_failed_not_found(pending).order, report(X.CLOSED, "2")
    )
    assert looked_up.order.status == S.PENDING_CANCEL
    assert looked_up.missing_fill_amount == Decimal("2")
    filled = apply_fill(looked_up.order, fill("t1", "2"), applied_trade_ids=frozenset())
    assert filled.order.status == S.FILLED


def test_cancel_not_found_on_an_already_settled_order_needs_nothing() -> None:
    assert not on_cancel_failed_not_found(order(S.CANCELED)).needs_lookup


@pytest.mark.parametrize("status", [S.NEW, S.DENIED, S.SUBMITTING, S.UNKNOWN])
def test_cancel_answers_for_orders_we_never_sent_a_cancel_for_raise(status: S) -> None:
    with pytest.raises(IllegalTransition):
        on_cancel_acknowledged(order(status), report(X.CANCELED))
    with pytest.raises(IllegalTransition):
        on_cancel_failed_not_found(order(status))
