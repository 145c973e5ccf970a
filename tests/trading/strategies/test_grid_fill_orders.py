"""Grid defects found by the any-order-of-fills property test, each pinned by hand."""

from __future__ import annotations

from decimal import Decimal as D

from autogrid.exchanges.types import OrderType, Side
from autogrid.trading.strategies.base import (
    CancelOrder,
    Decision,
    PlaceOrder,
    RestingOrder,
    StrategyFill,
)
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction
from autogrid.trading.strategies.grid_state import GridState, Lot
from tests.trading.strategies.test_grid import NOW, fill, grid, resting, snap


def opened_with_a_sell_at_5() -> tuple[GridStrategy, GridState, tuple[RestingOrder, ...]]:
    """A long grid 100..200 at 153: B4 (140) fills, so S5 (150) rests for its 0.714."""
    strategy = grid()
    opened = strategy.decide(snap("153"), GridState(), [])
    book = tuple(o for o in resting(opened.actions) if o.tag != "B4")
    bought = strategy.decide(
        snap("140", book), opened.state, [fill("B4", Side.BUY, "140", "0.714")]
    )
    return strategy, bought.state, book + resting(bought.actions)


def test_a_refused_sell_is_placed_again_for_the_inventory() -> None:
    strategy, state, book = opened_with_a_sell_at_5()
    without_sell = tuple(o for o in book if o.tag != "S5")  # the exchange refused S5
    decision = strategy.decide(snap("145", without_sell), state, [])
    # At once, as the second attempt of an episode (``refusals``: the next one waits).
    again = PlaceOrder("S5", Side.SELL, OrderType.LIMIT, D("0.714"), D(150), attempt=2)
    assert again in decision.actions


def test_a_sell_filled_in_part_then_cancelled_is_settled_and_the_rest_offered_at_once() -> None:
    strategy, state, book = opened_with_a_sell_at_5()
    without_sell = tuple(o for o in book if o.tag != "S5")  # 0.3 sold, then cancelled
    part = StrategyFill("S5", Side.SELL, D(150), D("0.3"), D(0), D(0), NOW, False)
    decision = strategy.decide(snap("149", without_sell), state, [part])
    assert PlaceOrder("S5", Side.SELL, OrderType.LIMIT, D("0.414"), D(150)) in decision.actions
    assert decision.state.lots[5].amount == D("0.414")


def test_inventory_that_joined_a_resting_sell_gets_its_own_sell_after_it() -> None:
    strategy, state, book = opened_with_a_sell_at_5()
    # 0.2 more came to level 5 while S5 (0.714) rested (a shift down moves inventory so).
    grown = _with_lot(state, 5, Lot(D("0.914"), D("128")))
    without_sell = tuple(o for o in book if o.tag != "S5")
    decision = strategy.decide(
        snap("150", without_sell), grown, [fill("S5", Side.SELL, "150", "0.714")]
    )
    assert PlaceOrder("S5", Side.SELL, OrderType.LIMIT, D("0.2"), D(150)) in decision.actions
    assert any(isinstance(a, PlaceOrder) and a.tag == "B4" for a in decision.actions)


def test_trailing_up_without_the_lowest_buy_adds_no_buy_it_has_no_quote_for() -> None:
    strategy = grid(trailing_up=True, trailing_up_limit=D(300))
    opened = strategy.decide(snap("153"), GridState(), [])
    book = tuple(o for o in resting(opened.actions) if o.tag != "B0")  # B0 filled: base at 1
    state = strategy.decide(snap("100", book), opened.state, [fill("B0", Side.BUY, "100", "1")])
    book = tuple(o for o in book) + resting(state.actions)
    decision = strategy.decide(snap("211", book), state.state, [])
    buys = [a.tag for a in decision.actions if isinstance(a, PlaceOrder) and a.side is Side.BUY]
    assert buys == []  # before: B10 placed with quote that was spent on B0's base
    assert decision.state.offset == 1


ShiftedDown = tuple[
    GridStrategy, tuple[RestingOrder, ...], Decision[GridState], Decision[GridState]
]


def neutral_grid_shifted_down() -> ShiftedDown:
    """A neutral trailing-down grid 100..200 bought in at 153, then shifted down by a drop to 89.

    Returns the strategy, the book before the shift, the decision after the initial buy filled
    (its lots) and the decision of the shift (S10's lot moved down, S10 cancelled).
    """
    strategy = grid(trailing_down=True, trailing_down_limit=D(50), direction=Direction.NEUTRAL)
    opened = strategy.decide(snap("153"), GridState(), [])
    book = tuple(o for o in resting(opened.actions) if o.tag != "INIT")
    init = next(a for a in opened.actions if isinstance(a, PlaceOrder) and a.tag == "INIT")
    ready = strategy.decide(
        snap("153", book), opened.state, [fill("INIT", Side.BUY, "153", str(init.amount))]
    )
    book = book + resting(ready.actions)
    shifted = strategy.decide(snap("89", book), ready.state, [])
    return strategy, book, ready, shifted


def test_a_sell_cancelled_by_a_shift_down_that_sold_first_is_taken_from_where_it_moved() -> None:
    strategy, book, ready, shifted = neutral_grid_shifted_down()
    top = ready.state.lots[10].amount
    assert CancelOrder("S10") in shifted.actions
    moved_to = shifted.state.moved["S10"]
    assert shifted.state.lots[moved_to].amount == top
    # S10 sold 0.1 before its cancel landed: that base is gone from where the lot went.
    book = tuple(o for o in book if o.tag != "S10") + resting(shifted.actions)
    late = StrategyFill("S10", Side.SELL, D(200), D("0.1"), D(0), D(0), NOW, False)
    after = strategy.decide(snap("89", book), shifted.state, [late])
    assert after.state.lots[moved_to].amount == top - D("0.1")
    assert "S10" not in after.state.moved


def _with_lot(state: GridState, level: int, lot: Lot) -> GridState:
    data = state.to_dict()
    data["lots"] = {**data["lots"], str(level): [str(lot.amount), str(lot.cost), True]}
    return GridState.from_dict(data)


def test_a_buy_moved_up_for_less_moves_up_again_for_no_more_than_it_holds() -> None:
    strategy = grid(trailing_up=True)
    opened = strategy.decide(snap("153"), GridState(), [])
    book = resting(opened.actions)  # B0..B4, 1 BTC at 100 for B0
    half = StrategyFill("B0", Side.BUY, D(100), D("0.5"), D(0), D(0), NOW, False)
    up = strategy.decide(snap("211", book), opened.state, [half])
    # B0's unfilled half (50 USDT) moves to the top: B10 at 200 for 0.25.
    assert PlaceOrder("B10", Side.BUY, OrderType.LIMIT, D("0.25"), D(200)) in up.actions
    book = tuple(o for o in book if o.tag != "B0") + resting(up.actions)
    state = strategy.load_state(strategy.dump_state(up.state))
    # Up to offset 10: B1..B4 move, then B10 itself, whose 50 USDT buy 0.166 at 300.
    higher = strategy.decide(snap("310", book), state, [])
    assert CancelOrder("B10") in higher.actions
    assert PlaceOrder("B20", Side.BUY, OrderType.LIMIT, D("0.166"), D(300)) in higher.actions


def test_inventory_a_shift_down_moves_is_offered_only_once_its_old_sell_is_cancelled() -> None:
    strategy, book, ready, shifted = neutral_grid_shifted_down()
    top = ready.state.lots[10].amount
    moved_to = shifted.state.moved["S10"]
    # S10 may sell before its cancel lands: a sell at moved_to now could offer base already
    # sold, taking it from whatever else the account holds (another sell's, the user's own).
    sells = [a for a in shifted.actions if isinstance(a, PlaceOrder) and a.side is Side.SELL]
    assert sells == []
    assert shifted.wake.every_candle  # called again to offer it as soon as the cancel lands
    # It did: S10 sold all of it first. Nothing is left to offer, nothing was oversold.
    book = tuple(o for o in book if o.tag != "S10")
    sold = strategy.decide(
        snap("89", book), shifted.state, [fill("S10", Side.SELL, "200", str(top))]
    )
    assert moved_to not in sold.state.lots
    assert not [a for a in sold.actions if isinstance(a, PlaceOrder) and a.side is Side.SELL]
    # It did not: the cancel landed with nothing sold, and the whole lot is offered at once.
    landed = strategy.decide(snap("89", book), shifted.state, [])
    offered = PlaceOrder(
        f"S{moved_to}", Side.SELL, OrderType.LIMIT, top, strategy.ladder.price_at(moved_to)
    )
    assert offered in landed.actions
    assert not landed.state.moved and not landed.wake.every_candle


def test_a_lot_moved_down_and_sold_buys_back_for_no_more_than_it_brought() -> None:
    strategy, book, _, shifted = neutral_grid_shifted_down()  # S10's 0.526 moves to 100
    book = tuple(o for o in book if o.tag != "S10")
    landed = strategy.decide(snap("89", book), shifted.state, [])
    sell = next(a for a in landed.actions if isinstance(a, PlaceOrder) and a.side is Side.SELL)
    assert (sell.tag, sell.amount, sell.price) == ("S0", D("0.526"), D(100))
    # It sells for 52.6, not a grid's 100: the buy below may spend no more than that (before,
    # a whole grid's buy, 100 USDT, spent quote the sale never brought).
    sold = strategy.decide(snap("100", book), landed.state, [fill("S0", Side.SELL, "100", "0.526")])
    buy = next(a for a in sold.actions if isinstance(a, PlaceOrder) and a.tag == "B-1")
    assert (buy.amount, buy.price) == (D("0.584"), D(90))
    # Moved up by a later shift, it carries only that quote.
    assert sold.state.sizes["B-1"] == D("0.584")
