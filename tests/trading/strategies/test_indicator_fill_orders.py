"""Indicator-bot defects found by the any-order-of-fills property test, pinned by hand: an entry
or exit order that fills in part and then leaves the book (cancelled, expired) keeps its fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import PlaceOrder, Snapshot, StrategyFill
from autogrid.trading.strategies.indicator import IndicatorState, IndicatorStrategy, Sizing
from autogrid.trading.strategies.signals import RsiRule

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
NOW = datetime(2024, 1, 1, tzinfo=UTC)
STRATEGY = IndicatorStrategy(RsiRule(period=5, buy_below=30, sell_above=70), Sizing(), MARKET)
QUIET = {"rsi": (50.0, 50.0)}  # neither an entry nor an exit
EXIT = {"rsi": (75.0, 65.0)}  # crosses above 70


def snapshot(indicators: dict[str, tuple[float, float]], base: str, quote: str) -> Snapshot:
    return Snapshot(NOW, MARKET, D(100), (), D(base), D(quote), None, indicators)


def part(tag: str, side: Side, amount: str) -> StrategyFill:
    return StrategyFill(tag, side, D(100), D(amount), D(0), D(0), NOW, False)


def test_an_exit_filled_in_part_then_cancelled_leaves_a_long_of_the_rest() -> None:
    long = IndicatorState(phase="long", trade=1, amount=D(1), entry_price=D(90), cost=D(90))
    exiting = STRATEGY.decide(snapshot(EXIT, "1", "0"), long, [])
    assert exiting.actions == (PlaceOrder("X1", Side.SELL, OrderType.MARKET, D(1)),)
    # 0.4 sold, then the order left the book; the next decision sees both at once.
    after = STRATEGY.decide(
        snapshot(EXIT, "0.6", "40"), exiting.state, [part("X1", Side.SELL, "0.4")]
    )
    assert after.state.amount == D("0.6")
    # Still an exit signal: it sells what is left, not the whole 1 BTC it no longer has.
    assert after.actions == (PlaceOrder("X1", Side.SELL, OrderType.MARKET, D("0.6")),)


def test_an_entry_filled_in_part_then_cancelled_is_a_long_position() -> None:
    entering = IndicatorState(phase="entering", trade=1)
    first = STRATEGY.decide(snapshot(QUIET, "0", "960"), entering, [part("E1", Side.BUY, "0.4")])
    assert first.state.phase == "long" and first.state.amount == D("0.4")
    assert first.state.entry_price == D(100) and not first.state.pending
