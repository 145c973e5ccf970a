from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from autogrid.trading.orders import (
    AnomalyKind,
    ExchangeOrderReport,
    IllegalTransition,
    OrderStatus,
    apply_exchange_report,
)
from autogrid.trading.orders import ExchangeOrderStatus as X
from tests.trading.orders.factories import order, report

S = OrderStatus


def test_a_stale_report_never_lowers_filled() -> None:
    start = order(S.PARTIALLY_FILLED, filled=Decimal("1"), average_price=Decimal("100"))
    outcome = apply_exchange_report(start, report(X.OPEN, "0.5"))
    assert outcome.order == start
    assert outcome.transition is None
    assert not outcome.needs_trade_fetch


def test_more_filled_than_our_fills_asks_for_the_trades_instead_of_setting_filled() -> None:
    outcome = apply_exchange_report(order(S.OPEN), report(X.OPEN, "1.5"))
    assert outcome.order.filled == 0
    assert outcome.order.status == S.OPEN
    assert outcome.missing_fill_amount == Decimal("1.5")
    assert outcome.needs_trade_fetch


def test_closed_without_our_fills_is_not_yet_filled() -> None:
    start = order(S.PARTIALLY_FILLED, filled=Decimal("1"), average_price=Decimal("100"))
    outcome = apply_exchange_report(start, report(X.CLOSED, "2"))
    assert outcome.order.status == S.PARTIALLY_FILLED
    assert outcome.missing_fill_amount == Decimal("1")


@pytest.mark.parametrize("terminal", [S.CANCELED, S.EXPIRED, S.FILLED, S.REJECTED])
def test_an_open_report_never_reopens_a_terminal_order(terminal: S) -> None:
    start = order(terminal, filled=Decimal("2") if terminal == S.FILLED else Decimal(0))
    outcome = apply_exchange_report(start, report(X.OPEN, "0"))
    assert outcome.order.status == terminal
    assert outcome.transition is None


def test_a_stale_open_report_after_a_cancel_is_not_an_anomaly() -> None:
    assert apply_exchange_report(order(S.CANCELED), report(X.OPEN)).anomalies == ()


def test_closed_after_canceled_asks_for_the_late_fills() -> None:
    outcome = apply_exchange_report(order(S.CANCELED), report(X.CLOSED, "2"))
    assert outcome.order.status == S.CANCELED
    assert outcome.missing_fill_amount == Decimal("2")
    assert outcome.anomalies == ()


@pytest.mark.parametrize(
    ("start", "said", "expected"),
    [
        (S.OPEN, X.CANCELED, S.CANCELED),
        (S.PARTIALLY_FILLED, X.CANCELED, S.CANCELED),
        (S.PENDING_CANCEL, X.CANCELED, S.CANCELED),
        (S.OPEN, X.EXPIRED, S.EXPIRED),
        (S.PENDING_CANCEL, X.EXPIRED, S.EXPIRED),
        (S.UNKNOWN, X.CANCELED, S.CANCELED),
        (S.SUBMITTING, X.EXPIRED, S.EXPIRED),
        (S.OPEN, X.REJECTED, S.REJECTED),
        (S.SUBMITTING, X.REJECTED, S.REJECTED),
        (S.SUBMITTING, X.OPEN, S.OPEN),
        (S.UNKNOWN, X.OPEN, S.OPEN),
        (S.PENDING_CANCEL, X.OPEN, S.PENDING_CANCEL),
        (S.PENDING_CANCEL, X.CLOSED, S.PENDING_CANCEL),
    ],
)
def test_reported_status_moves_the_order(start: S, said: X, expected: S) -> None:
    outcome = apply_exchange_report(order(start), report(said, "0"))
    assert outcome.order.status == expected
    assert outcome.anomalies == ()
    if expected != start:
        assert outcome.transition is not None
        assert outcome.transition.to_status == expected
        assert outcome.transition.data["reported_status"] == said.value


@pytest.mark.parametrize("said", [X.CANCELED, X.EXPIRED])
@pytest.mark.parametrize(
    ("start", "stays"),
    [
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PENDING_CANCEL, S.PENDING_CANCEL),
        (S.UNKNOWN, S.PARTIALLY_FILLED),  # it exists: acknowledged, though not yet ended
    ],
)
def test_a_reported_end_waits_until_our_fills_account_for_its_filled(
    said: X, start: S, stays: S
) -> None:
    before = order(start, filled=Decimal("0.5"), average_price=Decimal("100"))
    outcome = apply_exchange_report(before, report(said, "1.2"))
    assert outcome.order.status == stays
    assert outcome.order.filled == Decimal("0.5")
    assert outcome.missing_fill_amount == Decimal("0.7")
    caught_up = replace(outcome.order, filled=Decimal("1.2"))  # the fetched trades applied
    assert apply_exchange_report(caught_up, report(said, "1.2")).order.status == S(said.value)


def test_an_unacknowledged_order_adopts_the_exchange_order_id() -> None:
    outcome = apply_exchange_report(order(S.UNKNOWN), report(X.OPEN, exchange_order_id="x-9"))
    assert outcome.order.exchange_order_id == "x-9"


def test_a_report_about_another_exchange_order_changes_nothing() -> None:
    start = order(S.OPEN)
    outcome = apply_exchange_report(start, report(X.CANCELED, exchange_order_id="x-other"))
    assert outcome.order == start
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.EXCHANGE_ORDER_ID_MISMATCH]


def test_a_report_for_another_client_order_id_is_a_bug() -> None:
    with pytest.raises(ValueError):
        apply_exchange_report(
            order(S.OPEN), ExchangeOrderReport(X.OPEN, Decimal(0), client_order_id="other")
        )


@pytest.mark.parametrize("never_sent", [S.NEW, S.DENIED])
def test_a_report_for_an_unsent_order_raises(never_sent: S) -> None:
    with pytest.raises(IllegalTransition):
        apply_exchange_report(order(never_sent), report())


def test_rejected_for_an_order_with_fills_is_flagged_and_ignored() -> None:
    start = order(S.PARTIALLY_FILLED, filled=Decimal("1"), average_price=Decimal("100"))
    outcome = apply_exchange_report(start, report(X.REJECTED, "1"))
    assert outcome.order.status == S.PARTIALLY_FILLED
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.REPORT_CONTRADICTS_STATE]


def test_found_after_we_concluded_it_was_never_placed_is_flagged() -> None:
    outcome = apply_exchange_report(order(S.REJECTED), report(X.OPEN, "0.3"))
    assert outcome.order.status == S.REJECTED
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.ORDER_FOUND_AFTER_REJECTED]
    assert outcome.missing_fill_amount == Decimal("0.3")  # its trades must still be booked


def test_canceled_reported_for_a_filled_order_is_flagged_and_ignored() -> None:
    start = order(S.FILLED, filled=Decimal("2"), average_price=Decimal("100"))
    outcome = apply_exchange_report(start, report(X.CANCELED, "2"))
    assert outcome.order.status == S.FILLED
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.REPORT_CONTRADICTS_STATE]


def test_reported_filled_above_the_amount_is_flagged_and_capped() -> None:
    outcome = apply_exchange_report(order(S.OPEN), report(X.OPEN, "3"))
    assert outcome.missing_fill_amount == Decimal("2")
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.REPORTED_FILLED_EXCEEDS_AMOUNT]


def test_the_same_report_twice_changes_nothing_the_second_time() -> None:
    first = apply_exchange_report(order(S.UNKNOWN), report(X.CANCELED, "0"))
    second = apply_exchange_report(first.order, report(X.CANCELED, "0"))
    assert second.order == first.order
    assert second.transition is None
