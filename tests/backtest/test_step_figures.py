"""A sweep run's candle figures per balance step (``step_figures``) against the straight passes
over every candle (balances at each close, equity, drawdown curve, exposure): the same bits,
or ``None`` (the run then takes those passes)."""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Callable
from decimal import Decimal as D

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from autogrid.backtest import metrics
from autogrid.backtest.loader import load_candles
from autogrid.backtest.step_figures import CloseRanges, step_figures
from tests.shared_data import shared_file

Steps = list[tuple[int, D, D]]


def straight(
    steps: Steps, quote0: D, base0: D, close: np.ndarray, min_base: float
) -> tuple[bytes, float, float]:
    """The figures as the full results make them: balances at every close, then each pass."""
    quote, base = metrics.balances_at_closes(steps, quote0, base0, close.shape[0])
    equity = quote + base * close
    deepest = float(metrics.drawdown_pct(equity).max())
    return equity.tobytes(), deepest, metrics.exposure_pct(base, close, min_base, 5.0)


def per_step(
    steps: Steps,
    quote0: D,
    base0: D,
    close: np.ndarray,
    min_base: float,
    *,
    rising_share: float = 0.25,
    block: int | None = None,
) -> tuple[bytes, float, float] | None:
    """``step_figures``'s, with its table of the closes by blocks of ``block`` candles (the
    usual one if None), declining to follow more than ``rising_share`` of the candles."""
    table = None if block is None else CloseRanges.made(close, block)
    figures = step_figures(
        steps, quote0, base0, close, min_base, 5.0, rising_share=rising_share, table=table
    )
    if figures is None:
        return None
    equity = figures.equity_at(np.arange(close.shape[0]))  # every close: the whole curve
    return equity.tobytes(), figures.max_drawdown_pct, figures.exposure_pct


def same_bits(ours: tuple[bytes, float, float], theirs: tuple[bytes, float, float]) -> bool:
    """Equal, and the floats' bits too (``0.0 == -0.0``; a NaN never equals itself)."""
    return ours[0] == theirs[0] and all(
        np.float64(a).tobytes() == np.float64(b).tobytes()
        for a, b in zip(ours[1:], theirs[1:], strict=True)
    )


# Balances as the engine's Decimals: zeros of any exponent and sign, dust, any digits.
BALANCES = st.one_of(
    st.decimals("0", "20000", places=10),
    st.decimals("0", "2", places=5),
    st.sampled_from([D(0), D("0.00000"), D("-0"), D("-0.00000"), D("0E-21"), D("0.00001")]),
    st.decimals("0", "100000", places=21),
)
CLOSES = st.lists(st.floats(1e-3, 2e5), min_size=60, max_size=60)


@given(
    st.lists(st.integers(0, 60), max_size=30).map(sorted),
    st.lists(BALANCES, min_size=62, max_size=62),
    CLOSES,
    st.sampled_from([1e-5, 1e-3, 0.5]),
    st.sampled_from([0.0, 2.0]),
    st.sampled_from([None, 1, 2, 3, 8]),
)
@example([], [D(10)] + [D(0)] * 61, [100.0] * 60, 1e-5, 2.0, 1)  # in cash all along
@example([0, 0, 5, 60], [D(1), D(0), *[D("0.5")] * 60], [100.0] * 60, 1e-5, 2.0, 4)  # both ends
def test_the_figures_per_step_are_the_straight_passes_to_the_bit(
    indices: list[int],
    balances: list[D],
    closes: list[float],
    min_base: float,
    rising_share: float,
    block: int | None,
) -> None:
    """Any fills: several on one candle, none, one after the last candle; balances at zero
    (either sign), dust; in cash or holding at the start; segments read from the table of
    closes whatever its blocks, segments setting new peaks followed candle by candle or left
    to the passes over every candle. Every candle's equity, the deepest drawdown and the
    exposure are the straight passes' bits (declined only for a first equity of zero, whose
    drawdown the straight passes mask)."""
    steps = [(at, balances[2 + k], balances[2 + k + len(indices)]) for k, at in enumerate(indices)]
    close = np.array(closes)
    expected = straight(steps, balances[0], balances[1], close, min_base)
    got = per_step(
        steps, balances[0], balances[1], close, min_base, rising_share=rising_share, block=block
    )
    if got is None:
        assert np.frombuffer(expected[0])[0] == 0
    else:
        assert same_bits(got, expected)


@given(
    st.lists(st.integers(0, 80), max_size=24).map(sorted),
    st.lists(st.one_of(st.decimals("0", "100", places=2), st.just(D(0))), min_size=50, max_size=50),
    st.lists(st.floats(50, 150), min_size=80, max_size=80),
    st.sampled_from([0.0, 2.0]),
    st.sampled_from([None, 1, 4]),
)
def test_the_figures_per_step_are_the_straight_passes_when_cash_and_holdings_cross(
    indices: list[int],
    balances: list[D],
    closes: list[float],
    rising_share: float,
    block: int | None,
) -> None:
    """Equity in cash and equity held of one size (quote up to 100, base up to 1 at closes
    about 100): peaks set in cash, then a holding opening below them and rising past them."""
    quotes, bases = balances[:25], [b / 100 for b in balances[25:]]
    steps = [(at, quotes[1 + k], bases[1 + k]) for k, at in enumerate(indices)]
    close = np.array(closes)
    expected = straight(steps, quotes[0], bases[0], close, 0.001)
    got = per_step(steps, quotes[0], bases[0], close, 0.001, rising_share=rising_share, block=block)
    if got is None:
        assert np.frombuffer(expected[0])[0] == 0
    else:
        assert same_bits(got, expected)


def test_a_holding_opening_below_the_peak_set_in_cash_is_measured_from_that_peak() -> None:
    """In cash at 100, then holding one unit from a close of 90 up to 120: the deepest drawdown
    is 10 %, from the peak set in cash, though the holding's own candles never fall."""
    steps = [(3, D(0), D(1))]
    close = np.array([100.0, 100.0, 100.0, 90.0, 95.0, 120.0])
    expected = straight(steps, D(100), D(0), close, 0.001)
    assert expected[1] == 10.0
    for rising_share in (0.0, 2.0):
        got = per_step(steps, D(100), D(0), close, 0.001, rising_share=rising_share, block=2)
        assert got is not None and same_bits(got, expected)


@given(
    st.lists(st.floats(1e-3, 2e5), min_size=1, max_size=300),
    st.integers(1, 9),
    st.lists(st.tuples(st.integers(0, 299), st.integers(0, 299)), max_size=40),
)
def test_the_close_table_gives_any_runs_lowest_and_highest_close(
    closes: list[float], block: int, runs: list[tuple[int, int]]
) -> None:
    """Within a block, across two, across many: the very minimum and maximum."""
    close = np.array(closes)
    count = close.shape[0]
    pairs = [(min(a, b) % count, max(a, b) % count) for a, b in runs]
    pairs = [(first, last) for first, last in pairs if first <= last]
    first = np.array([pair[0] for pair in pairs], dtype=np.intp)
    last = np.array([pair[1] for pair in pairs], dtype=np.intp)
    low, high = CloseRanges.made(close, block).ranges(close, first, last)
    assert low.tolist() == [close[a : b + 1].min() for a, b in pairs]
    assert high.tolist() == [close[a : b + 1].max() for a, b in pairs]


@given(
    st.lists(st.integers(0, 9), max_size=8).map(sorted),
    st.lists(
        st.one_of(st.decimals("-50", "50", places=3), st.sampled_from([D(0), D("-0")])),
        min_size=18,
        max_size=18,
    ),
    st.lists(
        st.one_of(st.floats(-5, 5), st.sampled_from([0.0, -0.0, math.inf, math.nan, 1e308])),
        min_size=10,
        max_size=10,
    ),
)
def test_anything_the_per_step_arithmetic_does_not_cover_is_left_to_the_straight_passes(
    indices: list[int], balances: list[D], closes: list[float]
) -> None:
    """Negative balances or equity, closes at zero, negative or not finite, an equity that
    overflows: either ``None`` or the straight passes' very bits."""
    steps = [(at, balances[2 + k], balances[10 + k]) for k, at in enumerate(indices)]
    close = np.array(closes)
    got = per_step(steps, balances[0], balances[1], close, 1e-3)
    if got is not None:
        with np.errstate(all="ignore"):
            expected = straight(steps, balances[0], balances[1], close, 1e-3)
        assert same_bits(got, expected)


def test_a_run_in_cash_at_zero_or_with_bad_closes_takes_the_straight_passes() -> None:
    close = np.array([100.0, 101.0, 102.0])
    assert step_figures([], D(0), D(0), close, 1e-5, 5.0) is None  # a first equity of zero
    assert step_figures([], D(10), D(0), np.array([100.0, math.nan]), 1e-5, 5.0) is None
    assert step_figures([], D(10), D(0), np.array([100.0, 0.0]), 1e-5, 5.0) is None
    assert step_figures([(1, D(5), D("-0.1"))], D(10), D(0), close, 1e-5, 5.0) is None
    assert step_figures([(2, D(5), D(1)), (1, D(5), D(0))], D(10), D(0), close, 1e-5, 5.0) is None


def test_the_figures_per_step_are_the_straight_passes_on_real_candles() -> None:
    """A long run on real closes: a position now and then, in cash the rest, dust at times;
    more often held, setting new peaks."""
    close = load_candles(shared_file("binance_BTC_USDT-1m.csv.gz")).close[: 60 * 1440]
    rng = np.random.default_rng(7)
    at = np.sort(rng.choice(close.shape[0], 3_000, replace=False)).tolist()
    for held_every, gain in ((2, 0.0), (7, 1e-4)):
        steps = []
        quote = 10_000.0
        for k, index in enumerate(at):
            quote = quote * (1 + gain) if k % held_every == 0 else float(rng.uniform(0, 10_000))
            base = D(0) if k % held_every == 0 else D(str(round(float(rng.uniform(0, 0.1)), 5)))
            steps.append((index, D(str(round(quote, 10))), base))
        for min_base in (1e-5, 0.05):
            for quote0, base0 in ((D(10_000), D(0)), (D(5_000), D("0.05"))):
                expected = straight(steps, quote0, base0, close, min_base)
                for rising_share in (0.0, 2.0):
                    got = per_step(steps, quote0, base0, close, min_base, rising_share=rising_share)
                    assert got is not None and same_bits(got, expected)


def test_the_close_table_is_made_once_per_series_and_does_not_keep_it_alive() -> None:
    close = np.linspace(100.0, 200.0, 1_000)
    table = CloseRanges.of(close)
    assert table is not None and CloseRanges.of(close) is table
    assert CloseRanges.of(close.copy()) is not table  # another series: its own table
    gone = weakref.ref(close)
    del close
    gc.collect()
    assert gone() is None
    assert CloseRanges.of(np.array([1.0, -1.0])) is None


def collections_during(work: Callable[[], object]) -> int:
    """How many times the garbage collector ran during ``work`` (its youngest generation
    collected every 100 new objects it tracks)."""
    runs = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal runs
        runs += phase == "start"

    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100, 10, 10)
    gc.callbacks.append(count)
    try:
        work()
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*thresholds)
    return runs


def test_a_runs_figures_make_no_object_per_step_for_the_garbage_collector() -> None:
    """Thousands of balance steps set off no pass of the garbage collector: read with
    ``zip(*steps)`` (an iterator per step), they set off dozens, each over the whole heap."""
    close = np.linspace(100.0, 200.0, 20_000)
    steps = [(k, D(f"{9_000 + k}.0123456789"), D("0.05") if k % 2 else D(0)) for k in range(8_000)]
    CloseRanges.of(close)  # made once per series: not what is counted
    figures = collections_during(lambda: step_figures(steps, D(10_000), D(0), close, 1e-5, 5.0))
    plain = collections_during(
        lambda: metrics.candle_figures(steps, D(10_000), D(0), close, 1e-5, 5.0)
    )
    balances = collections_during(lambda: metrics.balances_at_closes(steps, D(1), D(0), 20_000))
    assert (figures, plain, balances) == (0, 0, 0)
