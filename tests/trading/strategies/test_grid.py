"""Grid strategy rules, checked against hand computations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import (
    CancelOrder,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StopBot,
    StrategyConfigError,
    StrategyFill,
)
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, GridConfig, Spacing, level_price
from autogrid.trading.strategies.grid_state import GridState

NOW = datetime(2025, 5, 20, tzinfo=UTC)
MARKET = MarketRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    amount_step=D("0.001"),
    price_tick=D("0.01"),
    min_amount=D("0.001"),
    min_cost=D("5"),
    maker_fee=D("0.001"),
    taker_fee=D("0.001"),
)


def grid(**overrides: object) -> GridStrategy:
    params: dict[str, object] = {
        "lower_price": D(100),
        "upper_price": D(200),
        "grid_count": 10,
        "investment": D(1000),
    }
    params.update(overrides)
    return GridStrategy(GridConfig(**params), MARKET)  # type: ignore[arg-type]


def snap(price: str, orders: tuple[RestingOrder, ...] = ()) -> Snapshot:
    return Snapshot(NOW, MARKET, D(price), orders, free_base=D(0), free_quote=D(10_000))


def resting(actions: tuple[object, ...]) -> tuple[RestingOrder, ...]:
    return tuple(
        RestingOrder(a.tag, a.side, a.type, a.price, a.amount)
        for a in actions
        if isinstance(a, PlaceOrder)
    )


def fill(tag: str, side: Side, price: str, amount: str, fee_quote: str = "0") -> StrategyFill:
    return StrategyFill(tag, side, D(price), D(amount), D(fee_quote), D(0), NOW, True)


def test_arithmetic_and_geometric_levels() -> None:
    arithmetic = GridConfig(D(100), D(200), 10, investment=D(1000))
    assert [level_price(arithmetic, i) for i in (0, 1, 5, 10)] == [D(100), D(110), D(150), D(200)]
    geometric = GridConfig(D(100), D(400), 2, spacing=Spacing.GEOMETRIC, investment=D(1000))
    assert level_price(geometric, 1) == pytest.approx(D(200))
    assert level_price(geometric, 2) == pytest.approx(D(400))


def test_long_grid_opens_buys_below_the_empty_nearest_level() -> None:
    strategy = grid()
    decision = strategy.decide(snap("153"), strategy.initial_state(snap("153")), [])
    places = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert [(a.tag, a.side, a.price) for a in places] == [
        (f"B{i}", Side.BUY, D(100 + 10 * i)) for i in range(5)
    ]
    # one grid = 1000 / 10 = 100 USDT; amount truncated to the 0.001 step
    assert [a.amount for a in places] == [D("1"), D("0.909"), D("0.833"), D("0.769"), D("0.714")]
    assert decision.state.live == frozenset(f"B{i}" for i in range(5))


def test_filled_buy_places_sell_one_level_up_and_round_trip_profit_is_exact() -> None:
    strategy = grid()
    opened = strategy.decide(snap("153"), GridState(), [])
    book = resting(opened.actions)
    after_buy = strategy.decide(
        snap("140", tuple(o for o in book if o.tag != "B4")),
        opened.state,
        [fill("B4", Side.BUY, "140", "0.714", fee_quote="0.09996")],
    )
    assert after_buy.actions == (PlaceOrder("S5", Side.SELL, OrderType.LIMIT, D("0.714"), D(150)),)
    book = tuple(o for o in book if o.tag != "B4") + resting(after_buy.actions)
    after_sell = strategy.decide(
        snap("150", tuple(o for o in book if o.tag != "S5")),
        after_buy.state,
        [fill("S5", Side.SELL, "150", "0.714", fee_quote="0.1071")],
    )
    assert after_sell.actions == (PlaceOrder("B4", Side.BUY, OrderType.LIMIT, D("0.714"), D(140)),)
    # bought 0.714 @140 = 99.96 + fee 0.09996; sold @150 = 107.1 - fee 0.1071
    expected = D("107.1") - D("0.1071") - (D("99.96") + D("0.09996"))
    assert expected == D("6.93294")
    assert after_sell.state.grid_profit == expected
    assert after_sell.state.realized_pnl == expected
    assert after_sell.state.round_trips == 1
    assert after_sell.state.fees_quote == D("0.20706")
    assert after_sell.state.position == 0


def test_partial_fills_accumulate_until_the_order_completes() -> None:
    strategy = grid()
    opened = strategy.decide(snap("153"), GridState(), [])
    partial = StrategyFill("B4", Side.BUY, D(140), D("0.3"), D("0.042"), D(0), NOW, False)
    first = strategy.decide(snap("140", resting(opened.actions)), opened.state, [partial])
    assert first.actions == ()
    rest = StrategyFill("B4", Side.BUY, D(140), D("0.414"), D("0.05796"), D(0), NOW, True)
    second = strategy.decide(snap("140"), first.state, [rest])
    sells = [a for a in second.actions if isinstance(a, PlaceOrder) and a.tag == "S5"]
    assert sells and sells[0].amount == D("0.714")
    assert second.state.lots[5].cost == D("99.96") + D("0.09996")


def test_cancelled_partially_filled_buy_still_sells_what_it_bought() -> None:
    strategy = grid()
    opened = strategy.decide(snap("153"), GridState(), [])
    partial = StrategyFill("B4", Side.BUY, D(140), D("0.3"), D(0), D(0), NOW, False)
    first = strategy.decide(snap("140", resting(opened.actions)), opened.state, [partial])
    # B4 disappears from the book without completing (cancelled outside the strategy)
    without_b4 = tuple(o for o in resting(opened.actions) if o.tag != "B4")
    second = strategy.decide(snap("141", without_b4), first.state, [])
    assert PlaceOrder("S5", Side.SELL, OrderType.LIMIT, D("0.3"), D(150)) in second.actions
    # and what it had left to buy is offered again (once: its level was never bought again)
    rest = strategy.ladder.amount_for(4) - D("0.3")
    again = PlaceOrder("B4", Side.BUY, OrderType.LIMIT, rest, D(140), None, 2)
    assert [a for a in second.actions if getattr(a, "tag", None) == "B4"] == [again]
    assert second.state.sizes == {"B4": rest}


def test_neutral_grid_buys_inventory_for_the_sell_side_first() -> None:
    strategy = grid(direction=Direction.NEUTRAL)
    opened = strategy.decide(snap("153"), GridState(), [])
    init = [a for a in opened.actions if isinstance(a, PlaceOrder) and a.tag == "INIT"]
    # sells at levels 6..10 each sell what one grid buys one level lower (levels 5..9)
    expected = sum((strategy.ladder.amount_for(level) for level in range(5, 10)), D(0))
    assert init == [PlaceOrder("INIT", Side.BUY, OrderType.MARKET, expected)]
    filled = strategy.decide(
        snap("153", resting(opened.actions)[:-1]),
        opened.state,
        [fill("INIT", Side.BUY, "153", str(expected))],
    )
    sells = [a for a in filled.actions if isinstance(a, PlaceOrder)]
    assert [a.tag for a in sells] == [f"S{i}" for i in range(6, 11)]
    assert filled.state.grid_profit == 0
    assert filled.state.position == expected


def test_stop_loss_stops_the_bot() -> None:
    strategy = grid(stop_loss_price=D(90), sell_base_on_stop=True)
    opened = strategy.decide(snap("153"), GridState(), [])
    assert opened.wake.price_at_or_below == D(90)
    stopped = strategy.decide(snap("89.5", resting(opened.actions)), opened.state, [])
    assert stopped.actions[-1] == StopBot(
        "stop-loss: price 89.5 <= 90", cancel_orders=True, sell_base=True
    )
    assert stopped.state.phase == "stopped"
    assert strategy.decide(snap("80"), stopped.state, []).actions == ()


def test_trailing_up_slides_the_ladder() -> None:
    strategy = grid(trailing_up=True, trailing_up_limit=D(300))
    opened = strategy.decide(snap("200"), GridState(), [])
    assert opened.wake.price_at_or_above == D(210)
    moved = strategy.decide(snap("210", resting(opened.actions)), opened.state, [])
    assert CancelOrder("B0") in moved.actions
    assert (
        PlaceOrder("B10", Side.BUY, OrderType.LIMIT, strategy.ladder.amount_for(10), D(200))
        in moved.actions
    )
    assert moved.state.offset == 1
    assert moved.wake.price_at_or_above == D(220)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"grid_count": 1}, "grid_count"),
        ({"grid_count": 501}, "grid_count"),
        ({"upper_price": D(100)}, "upper_price"),
        ({"lower_price": D(100), "upper_price": D(101), "grid_count": 10}, "two fees"),
        ({"investment": D(1)}, "market minimum"),
        ({"stop_loss_price": D(150)}, "stop_loss_price"),
    ],
)
def test_invalid_grids_are_refused_with_the_reason(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(StrategyConfigError, match=message):
        grid(**overrides)


def test_state_survives_a_round_trip_through_json() -> None:
    strategy = grid(direction=Direction.NEUTRAL)
    opened = strategy.decide(snap("153"), GridState(), [])
    partial = StrategyFill("B4", Side.BUY, D(140), D("0.3"), D("0.042"), D(0), NOW, False)
    state = strategy.decide(snap("140"), opened.state, [partial]).state
    assert strategy.load_state(strategy.dump_state(state)) == state


def test_a_fee_taken_in_base_leaves_dust_but_the_buy_below_comes_back() -> None:
    """Binance takes the buy fee in the base coin: the sell carries less than was bought, and the
    unsellable remainder must not stop the ladder (it did: the buy below was never re-placed)."""
    strategy = grid()
    opened = strategy.decide(snap("153"), GridState(), [])
    book = tuple(o for o in resting(opened.actions) if o.tag != "B4")
    fee_in_base = StrategyFill("B4", Side.BUY, D(140), D("0.714"), D(0), D("0.000714"), NOW, True)
    bought = strategy.decide(snap("140", book), opened.state, [fee_in_base])
    # 0.714 - 0.000714 = 0.713286 held; the sell carries 0.713 (the 0.001 step)
    assert bought.actions == (PlaceOrder("S5", Side.SELL, OrderType.LIMIT, D("0.713"), D(150)),)
    sold = strategy.decide(
        snap("150", book), bought.state, [fill("S5", Side.SELL, "150", "0.713", "0.10695")]
    )
    assert sold.actions == (PlaceOrder("B4", Side.BUY, OrderType.LIMIT, D("0.714"), D(140)),)
    assert sold.state.lots[5].amount == D("0.000286")  # the dust stays counted in the position
    rebought = strategy.decide(snap("140", book), sold.state, [fee_in_base])
    # the next buy folds the dust back in: 0.713286 + 0.000286 = 0.713572 -> sells 0.713
    assert rebought.actions == (PlaceOrder("S5", Side.SELL, OrderType.LIMIT, D("0.713"), D(150)),)
    assert rebought.state.lots[5].amount == D("0.713572")
