"""prepare_order: rounding to the market's grid and every limit checked before anything is sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autogrid.exchanges.errors import MarketRuleViolation
from autogrid.exchanges.rules import prepare_order, round_amount, round_price
from autogrid.exchanges.types import MarketRules, OrderRequest, OrderType, Side

D = Decimal
BTC = MarketRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    amount_step=D("0.00001"),
    price_tick=D("0.01"),
    min_amount=D("0.0001"),
    max_amount=D("9000"),
    min_cost=D("5"),
    min_price=D("0.01"),
    max_price=D("1000000"),
)


def limit(amount: str, price: str, rules: MarketRules = BTC, side: Side = Side.BUY) -> OrderRequest:
    return prepare_order(rules, side, OrderType.LIMIT, D(amount), D(price), "cid-1")


def violation(excinfo: pytest.ExceptionInfo[MarketRuleViolation]) -> tuple[str, str, str]:
    error = excinfo.value
    return error.rule, str(error.limit), str(error.value)


# ----------------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("amount", "step", "expected"),
    [
        ("0.123456789", "0.00001", "0.12345"),
        ("0.12345", "0.00001", "0.12345"),
        ("0.99999999", "0.001", "0.999"),
        ("7", "5", "5"),
        ("1234.5", "0.5", "1234.5"),
        ("1234.74", "0.25", "1234.50"),
        ("0.000009", "0.00001", "0.00000"),
        ("1E+3", "0.01", "1000.00"),
    ],
)
def test_amount_is_truncated_to_the_step(amount: str, step: str, expected: str) -> None:
    rounded = round_amount(D(amount), D(step))
    assert rounded == D(expected)
    assert str(rounded) == expected or D(step) >= 1


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        ("100.004", "0.01", "100.00"),
        ("100.005", "0.01", "100.01"),  # half up, like ccxt's price_to_precision
        ("100.015", "0.01", "100.02"),  # half up, not half even
        ("100.0149", "0.01", "100.01"),
        ("12.3", "0.5", "12.5"),
        ("12.2", "0.5", "12.0"),
        ("99", "10", "100"),
    ],
)
def test_price_is_rounded_half_up_to_the_tick(price: str, tick: str, expected: str) -> None:
    assert round_price(D(price), D(tick)) == D(expected)


def test_rounding_ignores_the_ambient_decimal_context() -> None:
    """ccxt's decimal_to_precision rewrites the thread's context; our results must not move."""
    import decimal

    with decimal.localcontext() as context:
        context.prec = 3
        context.rounding = decimal.ROUND_CEILING
        assert round_amount(D("12345.678912"), D("0.00001")) == D("12345.67891")
        assert round_price(D("100000.004"), D("0.01")) == D("100000.00")


@pytest.mark.parametrize("step", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_invalid_steps_are_refused(step: Decimal) -> None:
    with pytest.raises(ValueError):
        round_amount(D(1), step)


# ----------------------------------------------------------------------------- prepare_order


def test_a_valid_limit_order_is_rounded_and_passed_through() -> None:
    request = limit("0.0123456", "100000.004")
    assert request.amount == D("0.01234")
    assert request.price == D("100000.00")
    assert (request.symbol, request.side, request.type) == ("BTC/USDT", Side.BUY, OrderType.LIMIT)
    assert request.client_order_id == "cid-1"


def test_below_min_amount() -> None:
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("0.00005", "100000")
    assert violation(excinfo) == ("min_amount", "0.0001", "0.00005")
    assert "minimum amount 0.0001" in str(excinfo.value)


def test_an_amount_that_rounds_to_zero_names_the_rounding() -> None:
    rules = MarketRules("X/USDT", "X", "USDT", amount_step=D("1"), price_tick=D("0.01"))
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("0.9", "10", rules)
    assert violation(excinfo) == ("min_amount", "1", "0")
    assert "rounded down" in str(excinfo.value)


@pytest.mark.parametrize("amount", ["0", "-1"])
def test_zero_or_negative_amounts_violate_the_minimum(amount: str) -> None:
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit(amount, "100000")
    assert excinfo.value.rule == "min_amount"


def test_above_max_amount() -> None:
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("9000.00001", "1")
    # 9000.00001 is on the grid: the limit is what breaks
    assert violation(excinfo) == ("max_amount", "9000", "9000.00001")


def test_below_min_cost_uses_the_rounded_amount() -> None:
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("0.0000999999", "60000")  # rounds to 0.00009 < min amount first
    assert excinfo.value.rule == "min_amount"
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("0.0001", "40000")  # 4 USDT
    assert (excinfo.value.rule, excinfo.value.limit, excinfo.value.value) == (
        "min_cost",
        D(5),
        D(4),
    )
    assert str(excinfo.value) == (
        "order value 4 is below the market's minimum order value 5 for BTC/USDT"
    )


def test_exactly_the_minimum_cost_passes() -> None:
    assert limit("0.0001", "50000").amount == D("0.0001")


def test_price_limits() -> None:
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("1", "1000000.01")
    assert violation(excinfo) == ("max_price", "1000000", "1000000.01")
    rules = MarketRules(
        "X/USDT", "X", "USDT", amount_step=D("1"), price_tick=D("0.01"), min_price=D("0.10")
    )
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("100", "0.09", rules)
    assert violation(excinfo) == ("min_price", "0.10", "0.09")


def test_a_price_that_rounds_to_zero_is_below_the_tick() -> None:
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("1", "0.004")
    assert violation(excinfo) == ("min_price", "0.01", "0.00")


def test_rounding_up_can_cross_max_price_and_is_caught() -> None:
    rules = MarketRules(
        "X/USDT", "X", "USDT", amount_step=D("1"), price_tick=D("1"), max_price=D("10")
    )
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("100", "10.5", rules)
    assert violation(excinfo) == ("max_price", "10", "11")


def test_market_orders_are_valued_at_the_reference_price() -> None:
    request = prepare_order(
        BTC, Side.SELL, OrderType.MARKET, D("0.001"), None, "cid-2", reference_price=D("100000")
    )
    assert (request.amount, request.price, request.type) == (D("0.001"), None, OrderType.MARKET)
    with pytest.raises(MarketRuleViolation) as excinfo:
        prepare_order(
            BTC,
            Side.SELL,
            OrderType.MARKET,
            D("0.0001"),
            None,
            "cid-3",
            reference_price=D("40000"),
        )
    assert excinfo.value.rule == "min_cost"


def test_inactive_market() -> None:
    rules = MarketRules("X/USDT", "X", "USDT", D("1"), D("1"), active=False)
    with pytest.raises(MarketRuleViolation) as excinfo:
        limit("1", "1", rules)
    assert (excinfo.value.rule, excinfo.value.limit, excinfo.value.value) == (
        "market_active",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"type": OrderType.LIMIT, "price": None}, ValueError),  # limit without price
        ({"type": OrderType.MARKET, "price": D(1)}, ValueError),  # market with a price
        ({"type": OrderType.MARKET, "price": None}, ValueError),  # no reference price for min_cost
        ({"amount": 0.5}, TypeError),  # floats never carry money
        ({"price": 100000.0}, TypeError),
        ({"amount": D("NaN")}, ValueError),
        ({"client_order_id": ""}, ValueError),
        ({"client_order_id": "x" * 37}, ValueError),
        ({"client_order_id": "has space"}, ValueError),
    ],
)
def test_programming_errors_are_not_rule_violations(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    arguments: dict[str, Any] = {
        "rules": BTC,
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "amount": D("0.001"),
        "price": D("100000"),
        "client_order_id": "cid",
        **kwargs,
    }
    with pytest.raises(error):
        prepare_order(**arguments)


# ----------------------------------------------------------------------------- properties

steps = st.sampled_from([D("0.00001"), D("0.001"), D("0.1"), D("0.5"), D("1"), D("0.25"), D("10")])
amounts = st.decimals(min_value=D("0"), max_value=D("100000"), places=10, allow_nan=False)
prices = st.decimals(min_value=D("0"), max_value=D("2000000"), places=8, allow_nan=False)


@given(amounts, steps)
def test_rounded_amount_is_a_multiple_of_the_step_not_above_the_request(
    amount: Decimal, step: Decimal
) -> None:
    rounded = round_amount(amount, step)
    assert rounded <= amount
    assert amount - rounded < step
    assert rounded % step == 0
    assert round_amount(rounded, step) == rounded  # idempotent


@given(prices, steps)
def test_rounded_price_is_the_nearest_multiple_of_the_tick(price: Decimal, tick: Decimal) -> None:
    rounded = round_price(price, tick)
    assert rounded % tick == 0
    assert abs(rounded - price) <= tick / 2
    assert round_price(rounded, tick) == rounded


@given(
    amount=amounts,
    price=prices,
    step=steps,
    tick=steps,
    min_amount=st.sampled_from([D(0), D("0.001"), D("1")]),
    min_cost=st.sampled_from([D(0), D("5"), D("100")]),
    side=st.sampled_from(list(Side)),
)
def test_an_accepted_order_satisfies_every_rule(
    amount: Decimal,
    price: Decimal,
    step: Decimal,
    tick: Decimal,
    min_amount: Decimal,
    min_cost: Decimal,
    side: Side,
) -> None:
    rules = MarketRules(
        "X/Y",
        "X",
        "Y",
        amount_step=step,
        price_tick=tick,
        min_amount=min_amount,
        max_amount=D("50000"),
        min_cost=min_cost,
        min_price=D("0.01"),
        max_price=D("1000000"),
    )
    try:
        request = prepare_order(rules, side, OrderType.LIMIT, amount, price, "cid")
    except MarketRuleViolation as error:
        assert error.rule in {"min_amount", "max_amount", "min_price", "max_price", "min_cost"}
        assert error.limit is not None and error.value is not None
        return
    assert request.price is not None
    assert request.amount <= amount and request.amount % step == 0
    assert max(min_amount, step) <= request.amount <= D("50000")
    assert request.price % tick == 0 and D("0.01") <= request.price <= D("1000000")
    assert request.amount * request.price >= min_cost
    # what we prepared is what we would prepare again (sent unchanged by ccxt's rounding too)
    again = prepare_order(rules, side, OrderType.LIMIT, request.amount, request.price, "cid")
    assert again == request


@given(amount=amounts, price=prices)
def test_a_violation_always_names_a_limit_the_value_breaks(amount: Decimal, price: Decimal) -> None:
    assume(amount > 0)
    try:
        limit(str(amount), str(price))
    except MarketRuleViolation as error:
        assert error.limit is not None and error.value is not None
        if error.rule.startswith("min"):
            assert error.value < error.limit
        else:
            assert error.value > error.limit
