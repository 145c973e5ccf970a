"""Pre-trade risk (``trading.risk``): what a decision's orders become before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading import breaker as cb
from autogrid.trading.risk import (
    OrderIntent,
    PreTrade,
    Risk,
    Trip,
    TripCode,
    after_fills,
    denial_code,
    final_trip,
    vet,
    vet_all,
)

D = Decimal
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WALL = T0 + timedelta(seconds=7)  # the wall clock: a replay decides at an older candle close
MARKET = MarketRules(
    "BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.0001"), D(100), D(5), D(1), D(10**6)
)
REFERENCE = D(50000)


def checks(
    market: MarketRules = MARKET,
    *,
    killed: str | None = None,
    limits: cb.BreakerLimits | None = None,
    reference: Decimal = REFERENCE,
) -> PreTrade:
    return PreTrade(market, reference, limits or cb.BreakerLimits(), T0, WALL, killed)


def buy(tag: str, amount: str, price: str | None = "50000") -> OrderIntent:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return OrderIntent(tag, Side.BUY, kind, D(amount), D(price) if price is not None else None)


# ---- examples ----------------------------------------------------------------------------------


def test_an_order_within_every_rule_is_rounded_and_counted() -> None:
    (vetted,), risk = vet_all(
        [buy("B1", "0.001234567", "49999.996")], checks(), Risk(cb.BreakerState())
    )
    assert vetted.allowed
    assert vetted.intent == OrderIntent(
        "B1", Side.BUY, OrderType.LIMIT, D("0.00123"), D("50000.00")
    )
    assert risk.breaker.order_times == (T0,)  # the decision's time, not the wall clock
    assert risk.trip is None


def test_a_market_rule_denies_the_order_as_asked_and_trips_nothing() -> None:
    (vetted,), risk = vet_all([buy("B1", "0.00001")], checks(), Risk(cb.BreakerState()))
    assert (
        vetted.denial == "amount 0.00001 is below the market's minimum amount 0.0001 for BTC/USDT"
    )
    assert vetted.intent == buy("B1", "0.00001")
    assert risk == Risk(cb.BreakerState())


def test_a_buy_priced_far_above_the_reference_trips_and_denies_the_rest() -> None:
    intents = [buy("B1", "0.001"), buy("B2", "0.001", "80000"), buy("B3", "0.001")]
    vetted, risk = vet_all(intents, checks(), Risk(cb.BreakerState()))
    assert [v.allowed for v in vetted] == [True, False, False]
    assert vetted[1].denial is not None
    assert vetted[1].denial.startswith("buy price 80000.00 is 60.00% above the reference")
    assert vetted[2].denial == f"circuit breaker tripped: {vetted[1].denial}"
    assert risk.trip == Trip(TripCode.PRICE_DEVIATION, vetted[1].denial)
    assert risk.breaker.tripped_reason == vetted[1].denial
    assert risk.breaker.tripped_at == WALL


def test_a_buy_resting_far_below_the_reference_is_let_through() -> None:
    # A DCA's deepest safety order: it fills at its own price or never.
    vetted, risk = vet_all([buy("S9", "0.001", "20000")], checks(), Risk(cb.BreakerState()))
    assert [v.allowed for v in vetted] == [True]
    assert risk.trip is None


def test_the_order_rate_limit_trips_on_the_order_past_it() -> None:
    limits = cb.BreakerLimits(max_orders_per_minute=2)
    intents = [buy(f"B{i}", "0.001") for i in range(4)]
    vetted, risk = vet_all(intents, checks(limits=limits), Risk(cb.BreakerState()))
    assert [v.allowed for v in vetted] == [True, True, False, False]
    assert risk.trip is not None and risk.trip.code == TripCode.ORDER_RATE
    assert denial_code(vetted[2].denial) == TripCode.ORDER_RATE


def test_a_limit_order_without_a_reference_price_is_denied_without_a_trip() -> None:
    (vetted,), risk = vet_all([buy("B1", "0.001")], checks(reference=D(0)), Risk(cb.BreakerState()))
    assert vetted.denial == "no reference price to check the order price against"
    assert vetted.intent.amount == D("0.00100")  # rounded: only the breaker refused it
    assert risk.trip is None and not risk.breaker.tripped


def test_the_kill_switch_denies_everything_and_halts_the_bot() -> None:
    vetted, risk = vet_all(
        [buy("B1", "0.001")], checks(killed="maintenance"), Risk(cb.BreakerState())
    )
    assert vetted[0].denial == "kill switch: maintenance"
    assert final_trip(risk, "maintenance") == Trip(TripCode.KILL_SWITCH, "kill switch: maintenance")
    assert final_trip(risk, None) is None


def test_the_loss_limit_trips_after_the_fills() -> None:
    limits = cb.BreakerLimits()
    risk = after_fills(Risk(cb.BreakerState()), limits, T0, D(30), D(1000))
    assert risk.trip is None
    risk = after_fills(risk, limits, T0 + timedelta(minutes=40), D(-25), D(1000))
    assert risk.trip is not None and risk.trip.code == TripCode.LOSS_LIMIT
    assert risk.breaker.tripped


def test_no_loss_is_measured_without_an_investment_or_after_a_trip() -> None:
    fresh = Risk(cb.BreakerState())
    assert after_fills(fresh, cb.BreakerLimits(), T0, D(-999), None) == fresh
    tripped = Risk(cb.trip(cb.BreakerState(), "x", T0), Trip(TripCode.ORDER_RATE, "x"))
    assert after_fills(tripped, cb.BreakerLimits(), T0, D(-999), D(1000)) == tripped


# ---- properties --------------------------------------------------------------------------------

steps = st.sampled_from([D("0.00001"), D("0.001"), D("0.1"), D(1)])
ticks = st.sampled_from([D("0.01"), D("0.5"), D(1), D(10)])


@st.composite
def markets(draw: st.DrawFn) -> MarketRules:
    amount_step, price_tick = draw(steps), draw(ticks)
    return MarketRules(
        "BTC/USDT",
        "BTC",
        "USDT",
        amount_step,
        price_tick,
        min_amount=draw(st.sampled_from([D(0), amount_step * 3, D("0.05")])),
        max_amount=draw(st.sampled_from([None, D(5), D(50)])),
        min_cost=draw(st.sampled_from([D(0), D(5), D(100)])),
        min_price=draw(st.sampled_from([None, D(100)])),
        max_price=draw(st.sampled_from([None, D(60000)])),
        active=draw(st.sampled_from([True, True, True, False])),
    )


amounts = st.decimals(min_value=D(0), max_value=D(80), places=6, allow_nan=False)
prices = st.decimals(min_value=D(1), max_value=D(90000), places=3, allow_nan=False)


@st.composite
def intents(draw: st.DrawFn) -> OrderIntent:
    kind = draw(st.sampled_from(OrderType))
    price = draw(prices) if kind is OrderType.LIMIT else None
    return OrderIntent(
        draw(st.text("ABC", min_size=1, max_size=3)),
        draw(st.sampled_from(Side)),
        kind,
        draw(amounts),
        price,
    )


@st.composite
def pre_trades(draw: st.DrawFn) -> PreTrade:
    limits = cb.BreakerLimits(
        max_orders_per_minute=draw(st.integers(1, 8)),
        max_price_deviation_pct=draw(st.sampled_from([D(1), D(10), D(50)])),
    )
    killed = draw(st.none() | st.just("maintenance"))
    return PreTrade(draw(markets()), draw(prices), limits, T0, WALL, killed)


@st.composite
def starting_risks(draw: st.DrawFn) -> Risk:
    sent = draw(st.integers(0, 6))
    breaker = cb.BreakerState(order_times=tuple(T0 - timedelta(seconds=s + 1) for s in range(sent)))
    if draw(st.integers(0, 5)) == 0:
        breaker = cb.trip(breaker, "tripped earlier", T0 - timedelta(hours=1))
    return Risk(breaker)


decisions = st.tuples(st.lists(intents(), max_size=12), pre_trades(), starting_risks())


@given(decisions)
def test_vet_all_is_vet_folded_over_the_intents(
    decision: tuple[list[OrderIntent], PreTrade, Risk],
) -> None:
    wanted, pre, risk = decision
    vetted, after = vet_all(wanted, pre, risk)
    folded = risk
    for intent, one in zip(wanted, vetted, strict=True):
        again, folded = vet(intent, pre, folded)
        assert again == one
    assert folded == after
    assert [v.intent.tag for v in vetted] == [i.tag for i in wanted]


@given(decisions)
def test_every_denial_says_why(decision: tuple[list[OrderIntent], PreTrade, Risk]) -> None:
    vetted, _ = vet_all(*decision)
    assert all(v.denial for v in vetted if not v.allowed)


@given(decisions)
def test_the_kill_switch_denies_every_order_and_changes_nothing(
    decision: tuple[list[OrderIntent], PreTrade, Risk],
) -> None:
    wanted, pre, risk = decision
    vetted, after = vet_all(
        wanted,
        PreTrade(pre.market, pre.reference_price, pre.limits, pre.at, pre.tripped_at, "off"),
        risk,
    )
    assert all(
        v.denial == "kill switch: off" and v.intent == i
        for v, i in zip(vetted, wanted, strict=True)
    )
    assert after == risk
    assert final_trip(after, "off") == Trip(TripCode.KILL_SWITCH, "kill switch: off")


@given(decisions)
def test_once_tripped_every_later_order_is_denied(
    decision: tuple[list[OrderIntent], PreTrade, Risk],
) -> None:
    wanted, pre, risk = decision
    vetted, after = vet_all(wanted, pre, risk)
    tripped_at = next(
        (
            n
            for n, v in enumerate(vetted)
            if v.denial and after.trip and v.denial == after.trip.reason
        ),
        None,
    )
    if after.trip is None:
        return
    assert tripped_at is not None
    assert all(not v.allowed for v in vetted[tripped_at:])
    assert all(
        v.denial == f"circuit breaker tripped: {after.trip.reason}"
        for v in vetted[tripped_at + 1 :]
    )
    assert after.trip.code in (TripCode.ORDER_RATE, TripCode.PRICE_DEVIATION)
    assert after.breaker.tripped


@given(decisions)
def test_an_already_tripped_breaker_lets_nothing_through(
    decision: tuple[list[OrderIntent], PreTrade, Risk],
) -> None:
    wanted, pre, risk = decision
    tripped = Risk(cb.trip(risk.breaker, "earlier", T0))
    vetted, after = vet_all(wanted, pre, tripped)
    assert not any(v.allowed for v in vetted)
    assert after.breaker.tripped_reason == tripped.breaker.tripped_reason


@given(decisions)
def test_allowed_orders_conform_to_the_market_rules(
    decision: tuple[list[OrderIntent], PreTrade, Risk],
) -> None:
    wanted, pre, risk = decision
    vetted, _ = vet_all(wanted, pre, risk)
    market = pre.market
    for asked, one in zip(wanted, vetted, strict=True):
        if not one.allowed:
            continue
        got = one.intent
        assert (got.tag, got.side, got.type) == (asked.tag, asked.side, asked.type)
        assert market.active
        assert got.amount % market.amount_step == 0
        assert max(market.min_amount, market.amount_step) <= got.amount <= asked.amount
        assert market.max_amount is None or got.amount <= market.max_amount
        value_price = got.price if got.price is not None else pre.reference_price
        assert got.amount * value_price >= market.min_cost
        if got.price is not None:
            assert got.price % market.price_tick == 0
            assert market.min_price is None or got.price >= market.min_price
            assert market.max_price is None or got.price <= market.max_price
            through = got.price - pre.reference_price
            deviation = (through if got.side is Side.BUY else -through) / pre.reference_price * 100
            assert deviation <= pre.limits.max_price_deviation_pct
        # Already prepared: preparing it again changes nothing (sent as it was recorded).
        again = prepare_order(
            market, got.side, got.type, got.amount, got.price, "x", pre.reference_price
        )
        assert (again.amount, again.price) == (got.amount, got.price)


@given(decisions)
def test_orders_let_through_are_counted_and_never_exceed_the_rate(
    decision: tuple[list[OrderIntent], PreTrade, Risk],
) -> None:
    wanted, pre, risk = decision
    vetted, after = vet_all(wanted, pre, risk)
    allowed = sum(v.allowed for v in vetted)
    before = risk.breaker.order_times  # all within the last minute
    assert after.breaker.order_times == (*before, *(pre.at,) * allowed)
    assert allowed <= max(0, pre.limits.max_orders_per_minute - len(before))
    if after.trip is None and not after.breaker.tripped:
        assert after.breaker.pnl_samples == risk.breaker.pnl_samples
