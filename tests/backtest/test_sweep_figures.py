"""A sweep's run stores figures made by a lean path (``figures_only``: the trades' P&L without the
trades, no curves): on real candles they are equal, to the last digit, to the figures of the same
run's full results, for grids, DCA and indicator bots over several parameter sets."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from functools import cache
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from autogrid.backtest import results
from autogrid.backtest.engine import BacktestRun, BacktestSettings, TradeRecord
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.results import build_result
from autogrid.backtest.signal_walk import run_fast
from autogrid.backtest.step_figures import step_figures
from autogrid.backtest.trades import (
    POOL,
    _indicator_trips,
    _paired_pnls,
    closed_pnls,
    closed_trades,
    round_trip_of,
)
from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.candles import CandleArrays
from tests.shared_data import shared_file

MARKET = MarketRules(
    "BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), min_cost=D(5)
)
SETTINGS = BacktestSettings(MARKET, D(10_000), maker_fee=D("0.001"), taker_fee=D("0.001"))
GRID = {"lower_price": "100000", "upper_price": "112000", "investment": "8000"}
DCA = {
    "base_order_volume": "100",
    "safety_order_volume": "150",
    "max_safety_orders": 5,
    "active_safety_orders_count": 2,
}
SIZING = {"order_pct": 100}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("grid", {**GRID, "grid_count": 12, "direction": "long"}),
    ("grid", {**GRID, "grid_count": 30, "direction": "neutral"}),
    # Stopped out, selling everything: a sale closing other levels' lots, the dearest first.
    (
        "grid",
        {**GRID, "lower_price": "104000", "grid_count": 20, "direction": "neutral"}
        | {"spacing": "geometric", "stop_loss_price": "103000", "sell_base_on_stop": True},
    ),
    ("dca", {**DCA, "safety_order_step_percentage": "0.5", "take_profit": "0.5"}),
    (
        "dca",
        {
            **DCA,
            "safety_order_step_percentage": "1.5",
            "take_profit": "2",
            "stop_loss_percentage": "4",
        },
    ),
    (
        "dca",
        {
            **DCA,
            "safety_order_step_percentage": "0.8",
            "take_profit": "1",
            "start_condition": {
                "strategy": "rsi",
                "period": 14,
                "buy_below": 35,
                "timeframe": "1m",
            },
        },
    ),
    ("indicator", {"strategy": "rsi", "period": 7, "buy_below": 25, "sell_above": 70, **SIZING}),
    ("indicator", {"strategy": "rsi", "period": 21, "buy_below": 35, "sell_above": 65, **SIZING}),
    ("indicator", {"strategy": "macd", "fast": 12, "slow": 26, "signal": 9, **SIZING}),
    (
        "indicator",
        {"strategy": "bollinger", "period": 20, "stddev": 2, "exit_band": "middle", **SIZING},
    ),
    (
        "indicator",
        {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 50}
        | {"stop_loss_pct": 1, "take_profit_pct": 2},
    ),
]


@cache
def candles(days: int) -> CandleArrays:
    """The first ``days`` days of the real 1m BTC/USDT candles (from 2025-05-20)."""
    every = load_candles(shared_file("binance_BTC_USDT-1m.csv.gz"))
    return every.window(days * 1440, days * 1440)


def run_of(
    bot_type: str, config: dict[str, Any], days: int, settings: BacktestSettings
) -> BacktestRun:
    strategy = build_strategy(bot_type, config, MARKET)
    return run_fast(strategy, candles(days), settings, None)


def both(
    run: BacktestRun, days: int, settings: BacktestSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    full = build_result(run, candles(days), settings, strategy="x", run_seconds=0.5)
    lean = build_result(
        run, candles(days), settings, strategy="x", run_seconds=0.5, figures_only=True
    )
    assert lean.summary_dict()["closed_trades_total"] == len(full.closed_trades)
    # The P&L the lean path pairs is each closed trade's, in order.
    first_close = D(repr(float(candles(days).close[0])))
    pnls = closed_pnls(
        run.fills,
        initial_base=settings.initial_base,
        start_price=first_close,
        start_time=full.start,
    )
    assert pnls == [trade.pnl for trade in full.closed_trades]
    return lean.summary_dict(), full.summary_dict()


@pytest.mark.parametrize(("bot_type", "config"), CASES, ids=lambda case: str(case)[:40])
@pytest.mark.parametrize("days", [20, 95])  # 95: the annualised figures are given too
def test_a_sweep_runs_figures_equal_its_full_results_figures(
    bot_type: str, config: dict[str, Any], days: int
) -> None:
    run = run_of(bot_type, config, days, SETTINGS)
    lean, full = both(run, days, SETTINGS)

    assert lean == full
    if days == 95:
        assert full["sharpe"] is not None
    assert full["fills"] > 0


def test_a_sweep_runs_figures_come_from_its_balance_steps_and_agree_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lean figures are made per balance step (``step_figures`` takes real runs, it does
    not decline them to the passes over every candle), and the passes, should it decline, give
    the same figures too."""
    market = SETTINGS.market
    min_base, min_value = float(max(market.min_amount, market.amount_step)), float(market.min_cost)
    for bot_type, config in CASES[:2] + CASES[6:9]:
        run = run_of(bot_type, config, 95, SETTINGS)
        close = candles(95).close
        figures = step_figures(
            run.balance_steps, SETTINGS.initial_quote, D(0), close, min_base, min_value
        )
        assert figures is not None
        lean, full = both(run, 95, SETTINGS)
        with monkeypatch.context() as patched:
            patched.setattr(results, "step_figures", lambda *args: None)
            declined, _ = both(run, 95, SETTINGS)
        assert lean == declined == full
        assert lean["max_drawdown_pct"] == figures.max_drawdown_pct


def test_the_figures_agree_for_a_run_starting_with_base_held() -> None:
    """Base held at the start is an open lot every sale may close: both paths pair it alike."""
    settings = replace(SETTINGS, initial_base=D("0.05"))
    for bot_type, config in CASES[:2] + CASES[6:7]:
        run = run_of(bot_type, config, 20, settings)
        lean, full = both(run, 20, settings)
        assert lean == full
        assert full["trades"] > 0


def test_a_deal_sold_in_two_sales_is_one_trade_on_both_paths() -> None:
    """A take-profit and a safety order filling in the same candle leave a second sale: the
    lean path folds the deal's P&L as the closed trade does (rare on real candles)."""
    at = datetime(2025, 5, 20, tzinfo=UTC)

    def fill(index: int, tag: str, side: Side, price: str, amount: str) -> TradeRecord:
        fee = D(price) * D(amount) / 1000
        return TradeRecord(
            index, at + timedelta(minutes=index), tag, side, D(price), D(amount), fee, True
        )

    fills = [
        fill(0, "D1.BO", Side.BUY, "100000", "0.001"),
        fill(1, "D1.SO1", Side.BUY, "99000.5", "0.0015"),
        fill(2, "D1.TP1", Side.SELL, "100700", "0.001"),
        fill(2, "D1.TP2", Side.SELL, "100650.25", "0.0015"),
        fill(3, "D2.BO", Side.BUY, "101000", "0.001"),
        fill(4, "D2.EXIT", Side.SELL, "99000", "0.001"),
    ]
    trades = closed_trades(fills)
    assert len(trades) == 2
    assert closed_pnls(fills) == [trade.pnl for trade in trades]


# The tag grammar ``round_trip_of`` reads by hand, as the regular expression it replaced.
TAG = re.compile(r"(?:(?P<grid>[BS])(?P<level>\d+)|D(?P<deal>\d+)\..+|[EX](?P<trade>\d+))")


def round_trip_by_pattern(tag: str) -> str:
    match = TAG.fullmatch(tag)
    if match is None:
        return POOL
    if match["grid"] is not None:
        level = int(match["level"])
        return f"L{level + 1 if match['grid'] == 'B' else level}"
    if match["deal"] is not None:
        return f"D{match['deal']}"
    return f"T{match['trade']}"


@given(st.text(alphabet="BSDEXI.T0123456789\n٣x", max_size=8))
def test_round_trip_of_reads_the_tag_grammar(tag: str) -> None:
    assert round_trip_of(tag) == round_trip_by_pattern(tag)


@pytest.mark.parametrize(
    ("tag", "trip"),
    [
        ("B3", "L4"),
        ("S4", "L4"),
        ("D12.SO3", "D12"),
        ("D2.TP1", "D2"),
        ("E7", "T7"),
        ("X7", "T7"),
        ("INIT", POOL),
        ("STOPSELL", POOL),
        ("D3.", POOL),
        ("B", POOL),
    ],
)
def test_round_trip_of_known_tags(tag: str, trip: str) -> None:
    assert round_trip_of(tag) == trip


GRID_TAGS = ["B1", "B2", "S2", "S3"]
DCA_TAGS = ["D1.BO", "D1.SO1", "D1.TP1", "D1.EXIT", "D2.BO", "D2.TP1"]
OTHER_TAGS = ["E1", "X1", "INIT", "STOPSELL"]  # an indicator's round trip, then unowned fills
TAGS = st.sampled_from([*GRID_TAGS, *DCA_TAGS, *OTHER_TAGS])


@st.composite
def fill_sequences(draw: st.DrawFn) -> list[TradeRecord]:
    """Buys and sales of any tags in any order, at any decimal prices, amounts and fees."""
    at = datetime(2025, 5, 20, tzinfo=UTC)
    fills = []
    for index in range(draw(st.integers(0, 30))):
        price = draw(st.decimals("90000", "110000", places=2))
        amount = draw(st.decimals("0.00001", "0.01", places=5))
        fee = draw(st.decimals("0", "2", places=8))
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        tag = draw(TAGS)
        fills.append(
            TradeRecord(index, at + timedelta(minutes=index), tag, side, price, amount, fee, True)
        )
    return fills


def pairing_from(held: D) -> dict[str, Any]:
    """How a run's fills are paired: ``held`` base at the start, valued at 100000."""
    return {
        "initial_base": held,
        "start_price": D("100000"),
        "start_time": datetime(2025, 5, 19, tzinfo=UTC),
    }


@given(fill_sequences(), st.decimals("0", "0.05", places=5))
def test_the_lean_pnls_are_the_closed_trades_pnls_for_any_fills(
    fills: list[TradeRecord], held: D
) -> None:
    """Both paths pair and fold by the same code: the same P&L, in order, to the last digit."""
    pairing = pairing_from(held)
    trades = closed_trades(fills, **pairing)
    assert closed_pnls(fills, **pairing) == [trade.pnl for trade in trades]


@st.composite
def paired_sequences(draw: st.DrawFn) -> list[TradeRecord]:
    """An indicator bot's fills (``E<n>`` bought, ``X<n>`` sold, the same amount), the last buy
    maybe left open; now and then one fill changed so the pairs no longer hold."""
    at = datetime(2025, 5, 20, tzinfo=UTC)
    fills: list[TradeRecord] = []
    prices = st.decimals("90000", "110000", places=2)
    amounts = st.decimals("0.00001", "0.01", places=5)
    fees = st.decimals("0", "2", places=8)
    for trade in range(1, draw(st.integers(0, 12)) + 1):
        amount = draw(amounts)
        for side, tag in ((Side.BUY, f"E{trade}"), (Side.SELL, f"X{trade}")):
            index = len(fills)
            fills.append(
                TradeRecord(
                    index, at + timedelta(minutes=index), tag, side, draw(prices), amount,
                    draw(fees), False,
                )
            )  # fmt: skip
    if len(fills) > 0 and draw(st.booleans()):
        fills.pop()  # the last position still open
    if len(fills) > 0 and draw(st.booleans()):
        at_index = draw(st.integers(0, len(fills) - 1))
        changed = draw(st.sampled_from(["amount", "zero", "tag", "side", "pool", "deal", "scale"]))
        fill = fills[at_index]
        fills[at_index] = {
            "amount": replace(fill, amount=fill.amount + D("0.00001")),
            "zero": replace(fill, amount=D(0)),
            "tag": replace(fill, tag="X99" if fill.side is Side.SELL else "E99"),
            "side": replace(fill, side=Side.SELL if fill.side is Side.BUY else Side.BUY),
            "pool": replace(fill, tag="INIT"),
            "deal": replace(fill, tag="D1.BO" if fill.side is Side.BUY else "D1.TP1"),
            "scale": replace(fill, amount=fill.amount.quantize(D("1E-12"))),  # equal value
        }[changed]
    return fills


@given(paired_sequences(), st.decimals("0", "0.05", places=5))
def test_paired_fills_give_the_closed_trades_pnls_digit_for_digit(
    fills: list[TradeRecord], held: D
) -> None:
    """The shortcut for an indicator bot's buy-sale pairs (and every sequence it declines) makes
    the closed trades' P&L, the very digits and exponents."""
    pairing = pairing_from(held)
    trades = closed_trades(fills, **pairing)
    assert [str(pnl) for pnl in closed_pnls(fills, **pairing)] == [str(t.pnl) for t in trades]


def paired_by_loop(fills: list[TradeRecord]) -> list[D] | None:
    """The paired shortcut as one loop over the fills, sale by sale (as it was first written):
    the reference the column-by-column checks must agree with, None for None."""
    pnls: list[D] = []
    buy: TradeRecord | None = None
    for fill in fills:
        if fill.side is Side.BUY:
            if buy is not None:
                return None
            buy = fill
            continue
        if buy is None or fill.amount != buy.amount or not fill.amount > 0:
            return None
        key = round_trip_of(fill.tag)
        if key == POOL or key.startswith("D") or key != round_trip_of(buy.tag):
            return None
        amount = fill.amount
        proceeds = fill.price * amount - fill.fee
        pnls.append(proceeds - (D(0) + amount * buy.price) - (D(0) + buy.fee))
        buy = None
    return pnls


@st.composite
def retagged_pairs(draw: st.DrawFn) -> list[TradeRecord]:
    """Paired fills with one buy-sale pair tagged as another kind of round trip: a DCA deal's,
    unowned base's, a grid level's (same round trip on both sides, so only the kind declines)."""
    fills = draw(paired_sequences())
    if len(fills) < 2:
        return fills
    at = 2 * draw(st.integers(0, len(fills) // 2 - 1))
    buy_tag, sale_tag = draw(
        st.sampled_from([("D1.BO", "D1.TP1"), ("INIT", "STOPSELL"), ("B1", "S2")])
    )
    return [
        *fills[:at],
        replace(fills[at], tag=buy_tag),
        replace(fills[at + 1], tag=sale_tag),
        *fills[at + 2 :],
    ]


@given(st.one_of(paired_sequences(), retagged_pairs(), fill_sequences()))
def test_the_paired_shortcut_takes_and_declines_what_the_sale_by_sale_loop_does(
    fills: list[TradeRecord],
) -> None:
    expected = paired_by_loop(fills)
    paired = _paired_pnls(fills)
    assert (paired is None) == (expected is None)
    if paired is not None and expected is not None:
        assert [str(pnl) for pnl in paired] == [str(pnl) for pnl in expected]


def test_the_paired_shortcut_agrees_with_the_loop_on_real_runs() -> None:
    for config in (CASES[6][1], CASES[7][1], CASES[8][1], CASES[9][1]):
        fills = run_of("indicator", config, 95, SETTINGS).fills
        expected = paired_by_loop(fills)
        assert expected is not None and len(expected) > 10
        assert [str(pnl) for pnl in _paired_pnls(fills) or []] == [str(p) for p in expected]


def test_an_indicator_runs_pnls_take_the_paired_shortcut() -> None:
    """An RSI run on real candles is paired without lots (``_paired_pnls``), to the digit."""
    run = run_of("indicator", CASES[6][1], 20, SETTINGS)
    paired = _paired_pnls(run.fills)
    assert paired is not None and len(paired) > 50
    assert [str(pnl) for pnl in paired] == [str(t.pnl) for t in closed_trades(run.fills)]


def tagged(tags: list[str], side: Side) -> list[TradeRecord]:
    at = datetime(2025, 5, 20, tzinfo=UTC)
    return [TradeRecord(0, at, tag, side, D(1), D(1), D(0), False) for tag in tags]


@st.composite
def tag_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A buy's tag and a sale's: a kind letter (or none) and a number, often the same one, with
    now and then what a number must not hold (nothing, a line break, a dot, a letter)."""
    kinds = st.sampled_from(["E", "X", "", "B", "D", "EE", "E\n"])
    numbers = st.text(alphabet="0123456789٣\n.EX", max_size=3)
    number = draw(numbers)
    sale_number = number if draw(st.booleans()) else draw(numbers)
    return draw(kinds) + number, draw(kinds) + sale_number


@settings(max_examples=500)
@given(st.lists(tag_pairs(), max_size=5))
@example([("E", "X"), ("E1", "X1")])  # a number with no digit
@example([("E1\n2", "X1\n2")])  # a line break inside a tag
@example([("1", "1")])  # no kind letter
def test_the_indicator_tags_check_passes_only_owned_equal_round_trips(
    pairs: list[tuple[str, str]],
) -> None:
    """Read on the tags joined as text, the check never passes a pair whose round trips
    ``round_trip_of`` tells apart, nor unowned base or a deal: any tags, line breaks inside."""
    buys = tagged([buy for buy, _ in pairs], Side.BUY)
    sales = tagged([sale for _, sale in pairs], Side.SELL)
    if _indicator_trips(sales, buys):
        for buy, sale in pairs:
            assert round_trip_of(buy) == round_trip_of(sale)
            assert round_trip_of(sale).startswith("T")


@given(st.lists(st.text(alphabet="0123456789٣", min_size=1, max_size=4), min_size=1, max_size=6))
def test_the_indicator_tags_check_passes_entries_and_their_exits(numbers: list[str]) -> None:
    buys = tagged([f"E{number}" for number in numbers], Side.BUY)
    sales = tagged([f"X{number}" for number in numbers], Side.SELL)
    assert _indicator_trips(sales, buys)
    assert _indicator_trips(sales, [*buys, *tagged(["E9"], Side.BUY)])  # the last one open
    assert not _indicator_trips(sales[:-1] + tagged(["X"], Side.SELL), buys)
