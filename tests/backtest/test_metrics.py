"""The metric arithmetic on its own: equity from balance steps, days, ratios, downsampling."""

from __future__ import annotations

import math
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autogrid.backtest import metrics
from autogrid.backtest.loader import load_candles
from tests.shared_data import shared_file

DAY = metrics.DAY_MS


def test_balances_at_closes_follow_the_last_step_at_or_before_each_candle() -> None:
    steps = [(2, D(900), D(1)), (3, D(950), D("0.5")), (6, D(1010), D(0))]
    quote, base = metrics.balances_at_closes(steps, D(1000), D(0), 8)
    assert quote.tolist() == [1000, 1000, 900, 950, 950, 950, 1010, 1010]
    assert base.tolist() == [0, 0, 1, 0.5, 0.5, 0.5, 0, 0]


@given(
    st.lists(st.integers(0, 11), max_size=12).map(sorted),
    st.lists(st.decimals("0", "1000", places=8), min_size=13, max_size=13),
)
def test_balances_at_closes_are_the_last_step_at_or_before_each_candle_whatever_the_steps(
    indices: list[int], amounts: list[D]
) -> None:
    """Any sorted steps, several on one candle or none at all: each candle has the balances of
    the last step at or before it (the starting ones before the first)."""
    steps = [(at, amounts[k], amounts[k + 1]) for k, at in enumerate(indices)]
    quote, base = metrics.balances_at_closes(steps, D(7), D(3), 12)
    for candle in range(12):
        done = [step for step in steps if step[0] <= candle]
        expected = (done[-1][1], done[-1][2]) if done else (D(7), D(3))
        assert (quote[candle], base[candle]) == (float(expected[0]), float(expected[1]))


def test_drawdown_is_percent_below_the_running_peak() -> None:
    equity = np.array([100.0, 120.0, 90.0, 130.0, 117.0])
    assert metrics.drawdown_pct(equity).tolist() == pytest.approx([0, 0, 25, 0, 10])


@given(
    st.lists(
        st.one_of(st.floats(0, 1e7), st.floats(-10, 1e-3), st.just(0.0)), min_size=1, max_size=60
    )
)
def test_the_deepest_drawdown_is_the_drawdown_curves_maximum_to_the_bit(
    values: list[float],
) -> None:
    """A sweep run's figure (fewer passes) and the full results' curve agree exactly, whatever
    the equity: falling to zero or below, or starting there."""
    equity = np.array(values)
    assert metrics.max_drawdown_pct(equity) == float(metrics.drawdown_pct(equity).max())


def test_daily_equity_takes_each_days_last_close_and_carries_empty_days() -> None:
    hour = 3_600_000
    # day 0: two candles; day 1: none (an outage); day 2: one candle
    open_ms = np.array([0, 23 * hour, 2 * DAY + hour])
    equity = np.array([100.0, 101.0, 99.0])
    daily = metrics.daily_equity(open_ms, equity)
    assert daily.tolist() == [101.0, 101.0, 99.0]
    returns = metrics.daily_returns(100.0, daily)
    assert returns.tolist() == pytest.approx([0.01, 0.0, 99 / 101 - 1])


def test_ratios_are_none_when_undefined() -> None:
    assert metrics.sharpe(np.array([0.01])) is None  # one day
    assert metrics.sharpe(np.array([0.01, 0.01, 0.01])) is None  # no variation
    assert metrics.sortino(np.array([0.01, 0.02])) is None  # no losing day
    returns = np.array([0.02, -0.01, 0.03, -0.02])
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(365)
    assert metrics.sharpe(returns) == pytest.approx(expected)
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)
    assert metrics.sortino(returns) == pytest.approx(returns.mean() / downside * math.sqrt(365))


def test_cagr_compounds_over_365_day_years() -> None:
    assert metrics.cagr_pct(2.0, 365 * DAY) == pytest.approx(100.0)
    assert metrics.cagr_pct(4.0, 2 * 365 * DAY) == pytest.approx(100.0)
    assert metrics.cagr_pct(0.5, 365 * DAY) == pytest.approx(-50.0)
    assert metrics.cagr_pct(3.0, 60_000) is None  # a minute, annualised, overflows
    assert metrics.cagr_pct(0.0, DAY) is None


def test_downsampling_keeps_every_extreme_and_at_most_the_limit() -> None:
    rng = np.random.default_rng(7)
    walk = 10_000 + np.cumsum(rng.normal(size=525_600))
    kept = metrics.min_max_indices(walk, 2_000)
    assert len(kept) <= 2_000 and (np.diff(kept) > 0).all()
    assert kept[0] == 0 and kept[-1] == len(walk) - 1
    assert walk[kept].min() == walk.min() and walk[kept].max() == walk.max()
    # Each bucket's extremes survive, so a drawdown on the kept points is the real one.
    real = metrics.drawdown_pct(walk).max()
    assert metrics.drawdown_pct(walk[kept]).max() == pytest.approx(real, rel=1e-12)
    short = np.arange(10.0)
    assert metrics.min_max_indices(short, 2_000).tolist() == list(range(10))


def test_exposure_ignores_dust() -> None:
    base = np.array([0.0, 1e-9, 0.5, 0.5])
    close = np.array([100.0, 100.0, 100.0, 100.0])
    assert metrics.exposure_pct(base, close, min_base=1e-8, min_value=0.0) == 50.0
    assert metrics.exposure_pct(base, close, min_base=1e-8, min_value=60.0) == 0.0


def daily_equity_by_hand(open_ms: list[int], equity: list[float]) -> list[float]:
    """Each calendar day's last equity, carried over days without candles."""
    last: dict[int, float] = {}
    for at, value in zip(open_ms, equity, strict=True):
        last[at // DAY] = value
    days = range(min(last), max(last) + 1)
    carried: list[float] = []
    for day in days:
        carried.append(last.get(day, carried[-1] if carried else 0.0))
    return carried


@given(
    st.lists(st.integers(0, 6 * DAY), min_size=1, max_size=40, unique=True).map(sorted),
    st.lists(st.integers(0, 6 * DAY), min_size=1, max_size=40, unique=True).map(sorted),
)
def test_daily_equity_is_right_when_asked_again_and_between_two_candle_series(
    first: list[int], second: list[int]
) -> None:
    """Each series' day ends are remembered for the runs over it: asking again, or for another
    series in between, gives each its own days."""
    first_ms, second_ms = np.array(first, dtype=np.int64), np.array(second, dtype=np.int64)
    first_equity = np.arange(len(first), dtype=np.float64) + 1.0
    second_equity = np.arange(len(second), dtype=np.float64) * 2.0 + 0.5
    expected_first = daily_equity_by_hand(first, first_equity.tolist())
    expected_second = daily_equity_by_hand(second, second_equity.tolist())
    for _ in range(2):
        assert metrics.daily_equity(first_ms, first_equity).tolist() == expected_first
        assert metrics.daily_equity(first_ms, first_equity).tolist() == expected_first
        assert metrics.daily_equity(second_ms, second_equity).tolist() == expected_second
    # A series made again from the same numbers (a new array) is read afresh, alike.
    again = np.array(first, dtype=np.int64)
    assert metrics.daily_equity(again, first_equity).tolist() == expected_first


@given(
    st.lists(
        st.one_of(st.floats(0, 1e7), st.floats(-10, 1e-3), st.just(0.0), st.just(5e6)),
        min_size=1,
        max_size=200,
    ),
    st.integers(1, 40),
)
def test_the_deepest_drawdown_by_blocks_is_the_curves_maximum_to_the_bit(
    values: list[float], block: int
) -> None:
    """Blocks that set no new high are read from their lowest equity alone: whatever the block
    size, the blocks' ends and the equity (repeated highs, flat stretches), the same bits."""
    equity = np.array(values)
    expected = float(metrics.drawdown_pct(equity).max())
    assert metrics.max_drawdown_pct(equity, block=block) == expected


def test_the_deepest_drawdown_is_the_curves_maximum_on_real_candles() -> None:
    """Real closes as equity (a position held all along), and the same in cash half the time."""
    every = load_candles(shared_file("binance_BTC_USDT-1m.csv.gz"))
    close = every.close[: 200 * 1440]
    in_cash = close.copy()
    in_cash[: close.shape[0] // 2] = 70_000.0
    for equity in (close, close * 0.01 + 5_000.0, in_cash, close[::-1].copy()):
        expected = float(metrics.drawdown_pct(equity).max())
        for block in (64, 512, 4096):
            assert metrics.max_drawdown_pct(equity, block=block) == expected


def _straight(
    steps: list[tuple[int, D, D]], quote0: D, base0: D, close: np.ndarray, min_base: float
) -> tuple[bytes, float, float]:
    """The figures as the full results make them: balances at every close, then each pass."""
    quote, base = metrics.balances_at_closes(steps, quote0, base0, close.shape[0])
    equity = quote + base * close
    deepest = float(metrics.drawdown_pct(equity).max())
    return equity.tobytes(), deepest, metrics.exposure_pct(base, close, min_base, 5.0)


def _fused(
    steps: list[tuple[int, D, D]],
    quote0: D,
    base0: D,
    close: np.ndarray,
    min_base: float,
    block: int = 512,
) -> tuple[bytes, float, float]:
    figures = metrics.candle_figures(steps, quote0, base0, close, min_base, 5.0, block=block)
    return figures.equity.tobytes(), figures.max_drawdown_pct, figures.exposure_pct


# Balances as the engine's Decimals: zeros of any exponent and sign, dust, any digits.
BALANCES = st.one_of(
    st.decimals("-5", "20000", places=10),
    st.decimals("0", "2", places=5),
    st.sampled_from([D(0), D("0.00000"), D("-0"), D("-0.00000"), D("0E-21"), D("0.00001")]),
    st.decimals("0", "100000", places=21),
)


@given(
    st.lists(st.integers(0, 59), max_size=30).map(sorted),
    st.lists(BALANCES, min_size=62, max_size=62),
    st.lists(st.floats(1e-3, 2e5), min_size=60, max_size=60),
    st.sampled_from([1e-5, 1e-3, 0.5]),
    st.integers(1, 40),
)
def test_a_sweep_runs_candle_figures_are_the_straight_passes_to_the_bit(
    indices: list[int],
    balances: list[D],
    closes: list[float],
    min_base: float,
    block: int,
) -> None:
    """Any fills: several on one candle or none, balances at zero (either sign), dust, in cash
    or not at the start: the equity, deepest drawdown and exposure of the fused passes are the
    straight computation's, bit for bit."""
    steps = [(at, balances[2 + k], balances[2 + k + len(indices)]) for k, at in enumerate(indices)]
    close = np.array(closes)
    expected = _straight(steps, balances[0], balances[1], close, min_base)
    assert _fused(steps, balances[0], balances[1], close, min_base, block) == expected


def test_a_sweep_runs_candle_figures_are_the_straight_passes_on_real_candles() -> None:
    """A year-like run on real closes: a position most of the time, in cash the rest."""
    close = load_candles(shared_file("binance_BTC_USDT-1m.csv.gz")).close[: 60 * 1440]
    rng = np.random.default_rng(7)
    at = np.sort(rng.choice(close.shape[0], 3_000, replace=False)).tolist()
    steps = []
    for k, index in enumerate(at):
        quote = D(str(round(float(rng.uniform(0, 10_000)), 10)))
        base = D(0) if k % 2 else D(str(round(float(rng.uniform(0, 0.1)), 5)))
        steps.append((index, quote, base))
    for min_base in (1e-5, 0.05):
        expected = _straight(steps, D(10_000), D(0), close, min_base)
        assert _fused(steps, D(10_000), D(0), close, min_base) == expected


def test_a_sweep_runs_candle_figures_keep_the_sign_of_a_zero_balance() -> None:
    """``-0`` converts to ``-0.0`` (not converted, a zero must still keep its sign): the equity
    of a step at ``-0`` quote and base is ``-0.0``, as the straight passes make it."""
    steps = [(1, D("-0"), D("-0.00000")), (2, D("0.5"), D("0E-5"))]
    close = np.array([100.0, 101.0, 102.0])
    expected = _straight(steps, D(10), D(0), close, 1e-5)
    assert _fused(steps, D(10), D(0), close, 1e-5) == expected
    assert math.copysign(1.0, np.frombuffer(expected[0])[1]) == -1.0
