from __future__ import annotations

from decimal import Decimal as D

from autogrid.exchanges.types import OrderType, Side
from autogrid.trading.simulation.fills import Bar, SimOrder, fill_price, match_bar

BUY, SELL, LIMIT, MARKET = Side.BUY, Side.SELL, OrderType.LIMIT, OrderType.MARKET


def limit(key: str, side: Side, price: str) -> SimOrder:
    return SimOrder(key, side, LIMIT, D(1), D(price))


def test_limit_fills_at_its_price_or_at_a_better_open() -> None:
    bar = Bar(D(100), D(110), D(90), D(105))
    assert fill_price(limit("a", BUY, "95"), bar, D(0)) == D(95)
    assert fill_price(limit("b", BUY, "101"), bar, D(0)) == D(100)  # opened below the limit
    assert fill_price(limit("c", BUY, "89.99"), bar, D(0)) is None
    assert fill_price(limit("d", SELL, "110"), bar, D(0)) == D(110)  # touching is enough
    assert fill_price(limit("e", SELL, "99"), bar, D(0)) == D(100)
    assert fill_price(limit("f", SELL, "110.01"), bar, D(0)) is None


def test_market_orders_fill_at_the_open_moved_by_slippage() -> None:
    bar = Bar(D(100), D(110), D(90), D(105))
    assert fill_price(SimOrder("m", BUY, MARKET, D(1), None), bar, D("0.01")) == D(101)
    assert fill_price(SimOrder("m", SELL, MARKET, D(1), None), bar, D("0.01")) == D(99)


def test_path_goes_to_the_nearer_extreme_first() -> None:
    orders = [
        limit("s108", SELL, "108"),
        limit("b95", BUY, "95"),
        limit("b98", BUY, "98"),
        limit("s103", SELL, "103"),
    ]
    down_first = Bar(D(100), D(110), D(94), D(105))  # low is nearer: open->low->high->close
    assert [f.key for f in match_bar(orders, down_first, D(0))] == ["b98", "b95", "s103", "s108"]
    up_first = Bar(D(100), D(104), D(90), D(95))  # high is nearer: open->high->low->close
    assert [f.key for f in match_bar(orders, up_first, D(0))] == ["s103", "b98", "b95"]


def test_orders_crossed_at_the_open_come_first_and_are_makers() -> None:
    orders = [
        limit("b95", BUY, "95"),
        SimOrder("mkt", SELL, MARKET, D(1), None),
        limit("b102", BUY, "102"),
    ]
    fills = match_bar(orders, Bar(D(100), D(101), D(94), D(96)), D(0))
    assert [(f.key, f.price, f.is_maker) for f in fills] == [
        ("mkt", D(100), False),
        ("b102", D(100), True),
        ("b95", D(95), True),
    ]
