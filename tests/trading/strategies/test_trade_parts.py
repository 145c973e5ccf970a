"""The pieces the signal bot and the smart trade share, on their own."""

from __future__ import annotations

from decimal import Decimal as D

from autogrid.signals.model import TakeProfit
from autogrid.trading.strategies.trade_parts import take_profit_orders
from tests.trading.strategies.smart_trade_driver import MARKET


def test_a_step_without_a_share_before_one_with_a_share_leaves_it_its_part() -> None:
    """The signal bot's own sizing once gave the step without a share the whole position when
    it came first: the 30% step after it got nothing."""
    steps = (TakeProfit(D(110)), TakeProfit(D(120), D(30)))
    assert take_profit_orders(steps, D(1), MARKET) == [(0, D(110), D("0.7")), (1, D(120), D("0.3"))]


def test_even_steps_sell_the_whole_position_between_them() -> None:
    steps = (TakeProfit(D(110)), TakeProfit(D(120)), TakeProfit(D(130)))
    orders = take_profit_orders(steps, D("10.01998"), MARKET)
    assert [amount for _, _, amount in orders] == [D("3.33999"), D("3.33999"), D("3.34000")]


def test_steps_done_leave_the_rest_to_the_others_and_never_more_than_held() -> None:
    steps = (TakeProfit(D(110), D(30)), TakeProfit(D(120), D(30)), TakeProfit(D(130), D(40)))
    assert take_profit_orders(steps, D("0.7"), MARKET, frozenset({0})) == [
        (1, D(120), D("0.3")),
        (2, D(130), D("0.4")),
    ]
    over = (TakeProfit(D(110), D(80)), TakeProfit(D(120), D(80)))  # a signal may ask for 160%
    assert take_profit_orders(over, D(1), MARKET) == [(0, D(110), D("0.8")), (1, D(120), D("0.2"))]
