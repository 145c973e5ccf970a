"""The engine's price-indexed book: filtering by float never changes what a candle fills."""

from __future__ import annotations

import random
from decimal import Decimal as D

from autogrid.backtest.book import OrderBook
from autogrid.exchanges.types import OrderType, Side
from autogrid.trading.simulation.fills import Bar, SimOrder, match_bar
from autogrid.trading.strategies.base import RestingOrder


def _book(orders: list[SimOrder]) -> OrderBook:
    book = OrderBook()
    for order in orders:
        resting = RestingOrder(order.key, order.side, order.type, order.price, order.amount)
        book.add(resting, order, D(0))
    return book


def test_reachable_orders_fill_exactly_like_the_whole_book() -> None:
    rng = random.Random(11)
    for _ in range(400):
        orders = []
        for key in range(rng.randint(1, 40)):
            side = rng.choice((Side.BUY, Side.SELL))
            if rng.random() < 0.1:
                orders.append(SimOrder(f"m{key}", side, OrderType.MARKET, D(1), None))
            else:
                # Prices on a coarse tick so that some sit exactly on the candle's extremes.
                price = D(rng.randint(9_000, 11_000)) / 100
                orders.append(SimOrder(f"l{key}", side, OrderType.LIMIT, D(1), price))
        book = _book(orders)
        for tag in rng.sample(sorted(book.orders), k=len(book.orders) // 4):
            book.pop(tag)  # removal keeps the indexes right
        live = [book.orders[tag].sim for tag in book.orders]
        values = sorted(D(rng.randint(9_000, 11_000)) / 100 for _ in range(4))
        low, high = values[0], values[3]
        open_, close = rng.choice(values[1:3]), rng.choice(values[1:3])
        bar = Bar(open_, high, low, close)
        reachable = book.reachable(float(min(low, open_)), float(max(high, open_)))
        assert match_bar([order.sim for order in reachable], bar, D(0)) == match_bar(
            live, bar, D(0)
        )


def test_views_follow_placement_order_and_changes() -> None:
    orders = [
        SimOrder("a", Side.BUY, OrderType.LIMIT, D(1), D(90)),
        SimOrder("b", Side.SELL, OrderType.LIMIT, D(1), D(110)),
        SimOrder("c", Side.BUY, OrderType.LIMIT, D(1), D(95)),
    ]
    book = _book(orders)
    assert [view.tag for view in book.views()] == ["a", "b", "c"]
    assert (book.best_buy, book.best_sell) == (95.0, 110.0)
    book.pop("c")
    assert [view.tag for view in book.views()] == ["a", "b"] and book.best_buy == 90.0
