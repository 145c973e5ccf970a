from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autogrid.trading.orders import (
    AnomalyKind,
    IllegalTransition,
    OrderStatus,
    apply_fill,
)
from tests.trading.orders.factories import fill, order

S = OrderStatus
NONE: frozenset[str] = frozenset()


def test_first_fill_moves_open_to_partially_filled_and_is_recorded() -> None:
    outcome = apply_fill(order(S.OPEN), fill("t1", "0.5", "100"), applied_trade_ids=NONE)
    assert outcome.order.status == S.PARTIALLY_FILLED
    assert outcome.order.filled == Decimal("0.5")
    assert outcome.order.average_price == Decimal("100")
    assert outcome.order.fee == Decimal("0.01")
    assert outcome.order.fee_currency == "USDT"
    assert outcome.recorded_fill == fill("t1", "0.5", "100")
    assert outcome.applied_amount == Decimal("0.5")
    assert outcome.transition is not None
    assert (outcome.transition.from_status, outcome.transition.to_status) == (
        S.OPEN,
        S.PARTIALLY_FILLED,
    )
    assert outcome.transition.data["trade_id"] == "t1"
    assert outcome.anomalies == ()


def test_an_already_applied_trade_id_changes_nothing() -> None:
    start = order(S.PARTIALLY_FILLED, filled=Decimal("0.5"), average_price=Decimal("100"))
    outcome = apply_fill(start, fill("t1"), applied_trade_ids={"t1"})
    assert outcome.duplicate_fill
    assert outcome.order is start
    assert outcome.recorded_fill is None
    assert outcome.transition is None


def test_average_price_is_quantity_weighted() -> None:
    first = apply_fill(order(), fill("t1", "0.5", "100"), applied_trade_ids=NONE).order
    second = apply_fill(first, fill("t2", "1.5", "104"), applied_trade_ids={"t1"})
    assert second.order.average_price == Decimal("103")
    assert second.order.filled == Decimal("2")
    assert second.order.status == S.FILLED
    assert second.order.fee == Decimal("0.02")


def test_average_price_is_rounded_to_the_stored_scale() -> None:
    first = apply_fill(order(), fill("t1", "1", "100"), applied_trade_ids=NONE).order
    second = apply_fill(first, fill("t2", "0.5", "101"), applied_trade_ids={"t1"}).order
    assert second.average_price == Decimal("100.333333333333333333")


def test_a_fill_beyond_the_amount_is_clipped_flagged_and_still_recorded() -> None:
    start = order(S.PARTIALLY_FILLED, filled=Decimal("1.5"), average_price=Decimal("100"))
    outcome = apply_fill(start, fill("t9", "1", "102"), applied_trade_ids={"t1"})
    assert outcome.order.filled == Decimal("2")
    assert outcome.applied_amount == Decimal("0.5")
    assert outcome.recorded_fill is not None and outcome.recorded_fill.amount == Decimal("1")
    assert outcome.order.status == S.FILLED
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.FILL_EXCEEDS_AMOUNT]


def test_a_fill_on_a_filled_order_applies_nothing_but_is_flagged() -> None:
    start = order(S.FILLED, filled=Decimal("2"), average_price=Decimal("100"))
    outcome = apply_fill(start, fill("t9"), applied_trade_ids={"t1"})
    assert outcome.order.filled == Decimal("2")
    assert outcome.order.average_price == Decimal("100")
    assert outcome.applied_amount == 0
    assert outcome.recorded_fill is not None
    assert outcome.transition is None
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.FILL_EXCEEDS_AMOUNT]


@pytest.mark.parametrize("terminal", [S.CANCELED, S.EXPIRED])
def test_a_late_partial_fill_grows_filled_but_keeps_the_terminal_status(terminal: S) -> None:
    outcome = apply_fill(order(terminal), fill("t1", "0.5"), applied_trade_ids=NONE)
    assert outcome.order.status == terminal
    assert outcome.order.filled == Decimal("0.5")
    assert outcome.transition is None
    assert outcome.recorded_fill is not None


@pytest.mark.parametrize("terminal", [S.CANCELED, S.EXPIRED])
def test_a_late_fill_completing_the_order_makes_it_filled(terminal: S) -> None:
    start = order(terminal, filled=Decimal("1.5"), average_price=Decimal("100"))
    outcome = apply_fill(start, fill("t2", "0.5"), applied_trade_ids={"t1"})
    assert outcome.order.status == S.FILLED
    assert outcome.transition is not None
    assert outcome.transition.reason == "late fill"


def test_fills_racing_a_cancel_keep_it_pending_until_complete() -> None:
    partial = apply_fill(order(S.PENDING_CANCEL), fill("t1", "1"), applied_trade_ids=NONE)
    assert partial.order.status == S.PENDING_CANCEL
    assert partial.transition is None
    full = apply_fill(partial.order, fill("t2", "1"), applied_trade_ids={"t1"})
    assert full.order.status == S.FILLED


@pytest.mark.parametrize("in_flight", [S.SUBMITTING, S.UNKNOWN])
def test_a_fill_proves_an_in_flight_order_exists(in_flight: S) -> None:
    outcome = apply_fill(
        order(in_flight), fill("t1", "0.5", exchange_order_id="x-7"), applied_trade_ids=NONE
    )
    assert outcome.order.status == S.PARTIALLY_FILLED
    assert outcome.order.exchange_order_id == "x-7"


def test_a_fill_for_another_exchange_order_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="x-other"):
        apply_fill(order(S.OPEN), fill(exchange_order_id="x-other"), applied_trade_ids=NONE)


@pytest.mark.parametrize("never_sent", [S.NEW, S.DENIED])
def test_a_fill_for_an_order_never_sent_raises(never_sent: S) -> None:
    with pytest.raises(IllegalTransition):
        apply_fill(order(never_sent), fill(), applied_trade_ids=NONE)


def test_a_fill_on_a_rejected_order_is_kept_and_flagged_without_changing_status() -> None:
    outcome = apply_fill(order(S.REJECTED), fill("t1", "0.5"), applied_trade_ids=NONE)
    assert outcome.order.status == S.REJECTED
    assert outcome.order.filled == Decimal("0.5")
    assert outcome.recorded_fill is not None
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.FILL_ON_REJECTED_ORDER]


def test_a_fee_in_another_currency_is_flagged_not_summed() -> None:
    first = apply_fill(order(), fill("t1", fee="0.01"), applied_trade_ids=NONE).order
    outcome = apply_fill(
        first, fill("t2", fee="0.0001", fee_currency="BNB"), applied_trade_ids={"t1"}
    )
    assert outcome.order.fee == Decimal("0.01")
    assert outcome.order.fee_currency == "USDT"
    assert outcome.order.filled == Decimal("1")
    assert [a.kind for a in outcome.anomalies] == [AnomalyKind.FEE_CURRENCY_MISMATCH]


def test_a_zero_fee_in_any_currency_is_not_an_anomaly() -> None:
    first = apply_fill(order(), fill("t1", fee="0.01"), applied_trade_ids=NONE).order
    outcome = apply_fill(first, fill("t2", fee="0", fee_currency="BNB"), applied_trade_ids={"t1"})
    assert outcome.anomalies == ()


fill_lists = st.lists(
    st.tuples(
        st.integers(0, 7),  # trade id: small range so duplicates are common
        st.integers(1, 15),  # tenths
        st.sampled_from(["99", "100.5", "101.25"]),
    ),
    max_size=12,
)


@given(deliveries=fill_lists)
def test_any_delivery_sequence_applies_each_trade_once_and_never_overfills(
    deliveries: list[tuple[int, int, str]],
) -> None:
    # The exchange's truth: the first delivery of a trade id defines the trade.
    trades: dict[str, tuple[Decimal, Decimal]] = {}
    for trade_no, tenths, price_text in deliveries:
        trades.setdefault(f"t{trade_no}", (Decimal(tenths) / 10, Decimal(price_text)))
    state = order(S.OPEN)
    applied: set[str] = set()
    previous_filled = state.filled
    for trade_no, _, _ in deliveries:
        trade_id = f"t{trade_no}"
        amount, price = trades[trade_id]
        outcome = apply_fill(
            state, fill(trade_id, str(amount), str(price)), applied_trade_ids=frozenset(applied)
        )
        assert outcome.duplicate_fill == (trade_id in applied)
        if outcome.recorded_fill is not None:
            applied.add(trade_id)
        state = outcome.order
        assert previous_filled <= state.filled <= state.amount
        previous_filled = state.filled
    total = sum((amount for amount, _ in trades.values()), Decimal(0))
    assert applied == set(trades)
    assert state.filled == min(total, state.amount)
    expected = S.FILLED if total >= state.amount else S.PARTIALLY_FILLED if total else S.OPEN
    assert state.status == expected
    if applied and total <= state.amount:
        notional = sum((a * p for a, p in trades.values()), Decimal(0))
        assert state.average_price is not None
        assert abs(state.average_price - notional / total) < Decimal("1e-15")
