from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autogrid.exchanges.types import Side
from autogrid.trading.breaker import (
    BreakerLimits,
    BreakerState,
    check_cancel,
    check_new_order,
    record_exchange_error,
    record_exchange_success,
    record_order_sent,
    record_pnl,
    reset,
    trip,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LIMITS = BreakerLimits()
INVESTMENT = Decimal("1000")
REFERENCE = Decimal("100")


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def sent_orders(count: int, start: float = 0, every: float = 1) -> BreakerState:
    state = BreakerState()
    for i in range(count):
        state = record_order_sent(state, seconds(start + i * every))
    return state


def pnl_path(*points: tuple[float, str]) -> BreakerState:
    state = BreakerState()
    for at, pnl in points:
        state = record_pnl(state, LIMITS, seconds(at), Decimal(pnl), INVESTMENT)
    return state


# ---- limits ------------------------------------------------------------------------------------


def test_platform_defaults() -> None:
    assert (
        BreakerLimits(
            max_orders_per_minute=50,
            max_loss_pct_per_hour=Decimal("5"),
            max_price_deviation_pct=Decimal("10"),
            max_consecutive_errors=5,
        )
        == LIMITS
    )


def test_a_bot_may_tighten_limits() -> None:
    tightened = LIMITS.tightened(
        {"max_orders_per_minute": 10, "max_loss_pct_per_hour": "2.5", "max_price_deviation_pct": 3}
    )
    assert tightened.max_orders_per_minute == 10
    assert tightened.max_loss_pct_per_hour == Decimal("2.5")
    assert tightened.max_price_deviation_pct == Decimal("3")
    assert tightened.max_consecutive_errors == 5
    assert LIMITS.tightened({"max_consecutive_errors": 5}) == LIMITS  # equal is not looser


def test_a_json_float_is_read_as_its_decimal_text() -> None:
    assert LIMITS.tightened({"max_loss_pct_per_hour": 2.1}).max_loss_pct_per_hour == Decimal("2.1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_orders_per_minute": 51}, "may only be tightened"),
        ({"max_loss_pct_per_hour": "5.01"}, "may only be tightened"),
        ({"max_price_deviation_pct": 50}, "may only be tightened"),
        ({"max_consecutive_errors": 6}, "may only be tightened"),
        ({"max_orders_per_minute": 0}, "must be positive"),
        ({"max_loss_pct_per_hour": "-1"}, "must be positive"),
        ({"max_orders_per_minute": 2.5}, "whole number"),
        ({"max_orders_per_minute": True}, "must be a number"),
        ({"max_loss_pct_per_hour": "lots"}, "must be a number"),
        ({"max_loss_pct_per_hour": "NaN"}, "finite"),
        ({"max_leverage": 2}, "unknown circuit breaker limit"),
    ],
)
def test_loosening_or_nonsense_overrides_are_refused(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LIMITS.tightened(overrides)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BreakerLimits(max_consecutive_errors=0)


# ---- order rate --------------------------------------------------------------------------------


def test_order_rate_just_under_the_limit_is_allowed() -> None:
    state = sent_orders(49)
    assert check_new_order(state, LIMITS, seconds(50), REFERENCE, REFERENCE, Side.BUY).allowed


def test_order_rate_at_the_limit_denies_and_trips() -> None:
    state = sent_orders(50)
    decision = check_new_order(state, LIMITS, seconds(50), REFERENCE, REFERENCE, Side.BUY)
    assert not decision.allowed
    assert decision.trips_breaker
    assert decision.reason is not None and "50 orders in the last minute" in decision.reason


def test_orders_older_than_a_minute_do_not_count_and_are_pruned() -> None:
    state = sent_orders(50)  # at 0..49 s
    later = record_order_sent(state, seconds(60))  # the one at 0 s is exactly a minute old
    assert len(later.order_times) == 50
    assert check_new_order(state, LIMITS, seconds(60), REFERENCE, REFERENCE, Side.BUY).allowed


# ---- price deviation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "price"),
    [(Side.BUY, "110"), (Side.BUY, "109.99"), (Side.SELL, "90"), (Side.SELL, "90.01")],
)
def test_a_price_through_the_market_within_the_limit_is_allowed(side: Side, price: str) -> None:
    assert check_new_order(BreakerState(), LIMITS, T0, Decimal(price), REFERENCE, side).allowed


@pytest.mark.parametrize(
    ("side", "price", "words"),
    [
        (Side.BUY, "110.01", "buy price 110.01 is 10.01% above the reference 100"),
        (Side.BUY, "1000", "900.00% above"),
        (Side.SELL, "89.99", "sell price 89.99 is 10.01% below the reference 100"),
        (Side.SELL, "0.01", "99.99% below"),
    ],
)
def test_a_price_too_far_through_the_market_denies_and_trips(
    side: Side, price: str, words: str
) -> None:
    decision = check_new_order(BreakerState(), LIMITS, T0, Decimal(price), REFERENCE, side)
    assert not decision.allowed
    assert decision.trips_breaker
    assert decision.reason is not None and words in decision.reason


@pytest.mark.parametrize(
    ("side", "price"),
    [(Side.BUY, "89.99"), (Side.BUY, "0.01"), (Side.SELL, "110.01"), (Side.SELL, "1000")],
)
def test_an_order_resting_on_its_own_side_is_never_refused_for_its_distance(
    side: Side, price: str
) -> None:
    # A DCA's deep safety buys, a 15% take profit, a wide grid's far levels: they fill at their
    # own price or never, so no distance from the market is a fat finger.
    assert check_new_order(BreakerState(), LIMITS, T0, Decimal(price), REFERENCE, side).allowed


def test_a_market_order_has_no_price_to_check() -> None:
    assert check_new_order(BreakerState(), LIMITS, T0, None, None, Side.SELL).allowed


@pytest.mark.parametrize("reference", [None, Decimal(0)])
def test_a_limit_order_without_a_reference_price_is_denied_without_tripping(
    reference: Decimal | None,
) -> None:
    decision = check_new_order(BreakerState(), LIMITS, T0, Decimal("100"), reference, Side.BUY)
    assert not decision.allowed
    assert not decision.trips_breaker


# ---- consecutive errors ------------------------------------------------------------------------


def errors(count: int, state: BreakerState | None = None) -> BreakerState:
    state = state or BreakerState()
    for i in range(count):
        state = record_exchange_error(state, LIMITS, seconds(i), f"timeout {i}")
    return state


def test_errors_just_under_the_limit_do_not_trip() -> None:
    state = errors(4)
    assert state.consecutive_errors == 4
    assert not state.tripped


def test_consecutive_errors_at_the_limit_trip() -> None:
    state = errors(5)
    assert state.tripped
    assert state.tripped_at == seconds(4)
    assert state.tripped_reason == "5 consecutive exchange errors, last: timeout 4"


def test_a_success_breaks_the_streak() -> None:
    state = errors(3, record_exchange_success(errors(4)))
    assert state.consecutive_errors == 3
    assert not state.tripped


# ---- loss over the rolling hour ----------------------------------------------------------------


def test_loss_just_under_the_limit_does_not_trip() -> None:
    # Peak +30, now -19.99: lost 49.99 of 1000 = 4.999%.
    assert not pnl_path((0, "0"), (60, "30"), (1200, "-19.99")).tripped


def test_loss_over_the_limit_trips() -> None:
    state = pnl_path((0, "0"), (60, "30"), (2400, "-25"))
    assert state.tripped
    assert state.tripped_at == seconds(2400)
    assert state.tripped_reason is not None and "5.50%" in state.tripped_reason


def test_a_peak_older_than_an_hour_no_longer_counts() -> None:
    # Peak +30 at 60 s; an hour and a second later the high of the window is the 0 at 1800 s.
    state = pnl_path((60, "30"), (1800, "0"), (3661, "-40"))
    assert not state.tripped
    assert pnl_path((60, "30"), (1800, "0"), (3659, "-40")).tripped


def test_a_slow_drift_is_measured_against_the_hour_high_not_the_last_sample() -> None:
    points = [(i * 60.0, str(-10 * i)) for i in range(7)]  # -1% a minute, never 5% at once
    assert not pnl_path(*points[:6]).tripped
    assert pnl_path(*points).tripped  # -60 from the 0 six minutes ago: 6%


def test_recording_pnl_needs_a_positive_investment() -> None:
    with pytest.raises(ValueError):
        record_pnl(BreakerState(), LIMITS, T0, Decimal(0), Decimal(0))


@given(
    st.lists(
        st.tuples(st.integers(0, 900), st.integers(-50, 50)),  # seconds since last, PnL
        min_size=1,
        max_size=40,
    )
)
def test_the_kept_samples_give_the_same_hour_high_as_all_samples(
    steps: list[tuple[int, int]],
) -> None:
    state, history, now = BreakerState(), [], T0
    loose = BreakerLimits(max_loss_pct_per_hour=Decimal("100"))  # never trips: keep sampling
    for gap, pnl in steps:
        now += timedelta(seconds=gap)
        history.append((now, Decimal(pnl)))
        state = record_pnl(state, loose, now, Decimal(pnl), INVESTMENT)
        brute_high = max(p for at, p in history if at >= now - timedelta(hours=1))
        assert state.pnl_samples[0].pnl == brute_high
        assert len(state.pnl_samples) <= len(history)


# ---- tripped, cancel, reset, serialisation -----------------------------------------------------


def test_a_tripped_breaker_denies_every_new_order_but_never_a_cancel() -> None:
    state = trip(BreakerState(), "manual kill switch", T0)
    decision = check_new_order(state, LIMITS, T0, REFERENCE, REFERENCE, Side.BUY)
    assert not decision.allowed
    assert not decision.trips_breaker
    assert decision.reason == "circuit breaker tripped: manual kill switch"
    assert check_cancel(state).allowed


def test_tripping_again_keeps_the_first_reason() -> None:
    first = trip(BreakerState(), "loss", T0)
    assert trip(first, "errors", seconds(5)) == first


def test_reset_clears_the_trip_and_history_but_keeps_the_order_rate() -> None:
    state = trip(pnl_path((0, "10"), (1, "5")), "loss", T0)
    state = record_order_sent(record_exchange_error(state, LIMITS, T0, "x"), T0)
    cleared = reset(state)
    assert not cleared.tripped and cleared.tripped_at is None
    assert cleared.consecutive_errors == 0
    assert cleared.pnl_samples == ()
    assert cleared.order_times == state.order_times


def test_state_round_trips_through_json() -> None:
    state = trip(pnl_path((0, "10.5"), (30, "-2")), "loss", seconds(30))
    state = record_exchange_error(record_order_sent(state, seconds(31)), LIMITS, seconds(32), "e")
    restored = BreakerState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state


def test_an_empty_dict_is_a_fresh_breaker() -> None:
    assert BreakerState.from_dict({}) == BreakerState()


def test_naive_times_are_refused_on_load() -> None:
    with pytest.raises(ValueError, match="timezone"):
        BreakerState.from_dict({"order_times": ["2024-05-01T12:00:00"]})
