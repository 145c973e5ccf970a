"""Win rate and profit factor count each bot type's own round trips, on the real BTC/USDT candles:
a grid's buy at a level and sell one level up, a DCA deal, an indicator entry and its exit."""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import UTC, datetime
from decimal import Decimal as D
from functools import cache
from typing import Any

import pytest

from autogrid.backtest.engine import BacktestSettings, TradeRecord, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.report import metric_rows
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.backtest.trades import closed_trades
from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.candles import CandleArrays
from tests.shared_data import shared_file

MARKET = MarketRules(
    "BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), min_cost=D(5)
)
SETTINGS = BacktestSettings(MARKET, D(10_000))
GRID = {
    "lower_price": "100000",
    "upper_price": "110000",
    "grid_count": 40,
    "investment": "10000",
    "spacing": "arithmetic",
}


@cache
def minutes() -> CandleArrays:
    """The first 20,000 real 1m candles (2025-05-20 to 06-02: BTC ranging 101k to 111k)."""
    return load_candles(shared_file("binance_BTC_USDT-1m.csv.gz")).window(20_000, 20_000)


def backtest(bot_type: str, config: dict[str, Any]) -> tuple[list[TradeRecord], BacktestResult]:
    strategy = build_strategy(bot_type, config, MARKET)
    run = run_backtest(strategy, minutes(), SETTINGS)
    return run.fills, build_result(run, minutes(), SETTINGS, strategy=bot_type)


def net(sell: TradeRecord, buys: list[TradeRecord]) -> D:
    """What selling ``buys`` in ``sell`` made, after all their fees (every lot sold whole)."""
    return (
        sell.price * sell.amount
        - sell.fee
        - sum((buy.price * buy.amount + buy.fee for buy in buys), D(0))
    )


def test_a_long_grid_whose_every_round_trip_made_money_has_a_100_percent_win_rate() -> None:
    fills, result = backtest("grid", {**GRID, "direction": "long"})

    # Each sell S<i> sells what the buy B<i-1>, one level down, bought: the grid's own cycle.
    waiting: dict[int, deque[TradeRecord]] = defaultdict(deque)
    cycles: list[D] = []
    for fill in fills:
        level = int(fill.tag[1:])
        if fill.side is Side.BUY:
            waiting[level + 1].append(fill)
        else:
            bought = waiting[level].popleft()
            assert bought.amount == fill.amount
            cycles.append(net(fill, [bought]))
    assert len(cycles) == result.round_trips > 50
    assert all(profit > 0 for profit in cycles)

    assert result.trades == len(cycles)
    assert [trade.pnl for trade in result.closed_trades] == cycles
    assert result.win_rate == 100.0
    assert result.profit_factor is None  # no losing trade to divide by
    assert dict(metric_rows(result))["Profit factor"] == "no losing trade"
    # Pairing each sale with the oldest buy instead (any level) books losses that never were.
    assert _fifo_wins(fills) < len(cycles) * 0.9


def _fifo_wins(fills: list[TradeRecord]) -> int:
    lots: deque[TradeRecord] = deque()
    wins = 0
    for fill in fills:
        if fill.side is Side.BUY:
            lots.append(fill)
        else:
            wins += net(fill, [lots.popleft()]) > 0
    return wins


def test_a_neutral_grid_sells_its_initial_buy_where_no_level_below_bought() -> None:
    fills, result = backtest("grid", {**GRID, "direction": "neutral"})

    (initial,) = [fill for fill in fills if fill.tag == "INIT"]
    waiting: dict[int, deque[TradeRecord]] = defaultdict(deque)
    expected: list[D] = []  # each sale's entry price
    for fill in fills:
        if fill.tag.startswith("B"):
            waiting[int(fill.tag[1:]) + 1].append(fill)
        elif fill.tag.startswith("S"):
            own = waiting[int(fill.tag[1:])]
            # Nothing bought one level below: this sale is stock from the initial market buy.
            expected.append(own.popleft().price if own else initial.price)
    assert expected.count(initial.price) > 5
    assert [trade.entry_price for trade in result.closed_trades] == expected
    # Every cycle of the grid made money; a loss is only ever a sale of the initial buy one
    # level above a market price that was closer to that level than two fees.
    losses = [trade for trade in result.closed_trades if trade.pnl <= 0]
    assert all(trade.entry_price == initial.price for trade in losses)
    assert result.win_rate is not None and result.win_rate > 99


def test_a_dca_deal_is_one_round_trip() -> None:
    config = {
        "base_order_volume": "100",
        "safety_order_volume": "100",
        "safety_order_step_percentage": "0.5",
        "max_safety_orders": 5,
        "active_safety_orders_count": 2,
        "take_profit": "0.5",
    }
    fills, result = backtest("dca", config)

    deals: dict[str, list[TradeRecord]] = defaultdict(list)
    for fill in fills:
        deals[fill.tag.partition(".")[0]].append(fill)
    closed = [deal for deal in deals.values() if deal[-1].side is Side.SELL]
    assert len(closed) == result.round_trips > 10
    assert result.trades == len(closed)
    for deal, trade in zip(closed, result.closed_trades, strict=True):
        *buys, sell = deal
        assert all(buy.side is Side.BUY for buy in buys)
        assert trade.amount == sum(buy.amount for buy in buys) == sell.amount
        assert trade.entry_price == sum(b.price * b.amount for b in buys) / trade.amount
        assert trade.pnl == net(sell, buys)
    assert any(len(deal) > 2 for deal in closed)  # deals with safety orders among them


def test_a_deal_closed_by_two_sales_is_still_one_round_trip() -> None:
    # On the 1h file a take-profit and a safety order often fill in the same candle: the deal
    # then sells what the safety order bought in a second take-profit.
    hours = load_candles(shared_file("binance_BTC_USDT-1h.csv.gz"))
    settings = BacktestSettings(MARKET, D(10_000), timeframe_ms=3_600_000)
    config = {
        "base_order_volume": "100",
        "safety_order_volume": "100",
        "safety_order_step_percentage": "1",
        "max_safety_orders": 5,
        "active_safety_orders_count": 3,
        "take_profit": "1",
    }
    run = run_backtest(build_strategy("dca", config, MARKET), hours, settings)
    result = build_result(run, hours, settings, strategy="dca")

    deals: dict[str, list[TradeRecord]] = defaultdict(list)
    for fill in run.fills:
        deals[fill.tag.partition(".")[0]].append(fill)
    closed = [deal for deal in deals.values() if deal[-1].side is Side.SELL]
    sold_twice = [deal for deal in closed if sum(f.side is Side.SELL for f in deal) > 1]
    assert len(sold_twice) > 10
    assert result.trades == len(closed) == result.round_trips
    for deal, trade in zip(closed, result.closed_trades, strict=True):
        buys = [f for f in deal if f.side is Side.BUY]
        sells = [f for f in deal if f.side is Side.SELL]
        assert trade.amount == sum(f.amount for f in sells) == sum(f.amount for f in buys)
        assert trade.pnl == sum(f.price * f.amount - f.fee for f in sells) - sum(
            f.price * f.amount + f.fee for f in buys
        )
        assert trade.exit_tag == sells[-1].tag


def test_an_indicator_exit_closes_its_own_entry() -> None:
    config = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70}
    fills, result = backtest("indicator", {**config, "order_pct": 100})

    entries = {fill.tag[1:]: fill for fill in fills if fill.tag.startswith("E")}
    exits = [fill for fill in fills if fill.tag.startswith("X")]
    assert len(exits) == result.trades == result.round_trips > 10
    assert [trade.pnl for trade in result.closed_trades] == [
        net(exit, [entries[exit.tag[1:]]]) for exit in exits
    ]
    wins = sum(1 for exit in exits if net(exit, [entries[exit.tag[1:]]]) > 0)
    assert result.win_rate == pytest.approx(wins / len(exits) * 100)


def record(tag: str, side: Side, price: str, amount: str, day: int) -> TradeRecord:
    moment = datetime(2025, 1, day, tzinfo=UTC)
    return TradeRecord(day, moment, tag, side, D(price), D(amount), D(0), True)


def test_a_sale_its_level_cannot_cover_takes_unowned_base_then_the_dearest_lots() -> None:
    buy, sell = Side.BUY, Side.SELL
    fills = [
        record("INIT", buy, "105", "1", 1),  # a neutral grid's initial buy: no level owns it
        record("B1", buy, "100", "1", 2),  # stocks level 2
        record("B3", buy, "102", "1", 3),  # stocks level 4
        record("S6", sell, "106", "1", 4),  # nothing at level 6: the initial buy
        record("S2", sell, "101", "1", 5),  # level 2's own lot, though level 4's is older
        record("S1", sell, "99", "0.5", 6),  # a moved lot: nothing unowned left, the dearest
    ]

    trades = closed_trades(fills)

    assert [(t.entry_price, t.pnl) for t in trades] == [
        (D(105), D(1)),
        (D(100), D(1)),
        (D(102), D("-1.5")),
    ]
    assert trades[2].entry_time == datetime(2025, 1, 3, tzinfo=UTC)
