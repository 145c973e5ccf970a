"""The rules' vectorised masks agree with their per-candle ``entry``/``exit`` at every candle.

The backtest engine skips every candle outside ``signal_candles``, so a candle where ``decide``
would see a signal but the masks do not would change trades. Checked on real data, and with gaps
(NaN) punched into the series so "ready" is exercised away from the warm-up too, and on made-up
series that step onto, off and across each rule's levels exactly (real prices never land on one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

from autogrid.trading.candles import arrays_from_rows
from autogrid.trading.strategies.signals import (
    AverageKind,
    BollingerExit,
    BollingerRule,
    MacdRule,
    MaCrossRule,
    RsiRule,
    Series,
    SignalRule,
    indicators_ready,
    signal_candles,
)
from tests.shared_data import load_csv_rows

RULES = [
    RsiRule(14, 30, 70),
    RsiRule(5, 45, 55),
    MacdRule(12, 26, 9),
    BollingerRule(20, 2.0, BollingerExit.UPPER),
    BollingerRule(10, 1.0, BollingerExit.MIDDLE),
    MaCrossRule(10, 30, AverageKind.SMA),
    MaCrossRule(20, 50, AverageKind.EMA),
]


def per_candle(rule: SignalRule, series: Mapping[str, Series]) -> tuple[np.ndarray, np.ndarray]:
    """``entry``/``exit`` called at each candle on the values the engine shows ``decide``."""
    size = len(next(iter(series.values())))
    entries, exits = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    for index in range(size):
        values = {
            name: (float(values[index]), float(values[index - 1]) if index else math.nan)
            for name, values in series.items()
        }
        if indicators_ready(values):
            entries[index] = rule.entry(values)
            exits[index] = rule.exit(values)
    return entries, exits


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_masks_match_entry_and_exit_at_every_candle(rule: SignalRule) -> None:
    candles = arrays_from_rows(load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=20_000).tolist())
    series = rule.series(candles)
    gapped = {name: values.copy() for name, values in series.items()}
    for values in gapped.values():
        values[5_000:5_003] = np.nan
        values[12_345] = np.nan

    for checked in (series, gapped):
        entries, exits = signal_candles(rule, checked)
        expected_entries, expected_exits = per_candle(rule, checked)
        assert expected_entries.sum() > 10 and expected_exits.sum() > 10
        assert (entries == expected_entries).all()
        assert (exits == expected_exits).all()
        assert not ((entries | exits) & ~rule.mask(checked)).any()


def levels(rule: SignalRule) -> list[float]:
    return [rule.buy_below, rule.sell_above] if isinstance(rule, RsiRule) else [0.0]


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_masks_match_entry_and_exit_on_the_levels_themselves(rule: SignalRule) -> None:
    points = sorted({level + step for level in levels(rule) for step in (-1.0, 0.0, 1.0)})
    # Each ordered pair of points (NaN included) once, as (first, second, NaN).
    values = [*points, math.nan]
    path = [value for first in values for second in values for value in (first, second, math.nan)]
    names = rule.series(arrays_from_rows([[0, 1, 1, 1, 1, 1]] * 60)).keys()
    series = {name: np.array(path) for name in names}
    entries, exits = signal_candles(rule, series)
    expected_entries, expected_exits = per_candle(rule, series)
    assert expected_entries.any() and expected_exits.any()
    assert (entries == expected_entries).all()
    assert (exits == expected_exits).all()
