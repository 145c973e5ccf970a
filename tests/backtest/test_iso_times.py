"""Curve times formatted by numpy in one call read exactly as one datetime at a time."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from autogrid.backtest.results import iso_times
from autogrid.backtest.trades import iso_utc
from autogrid.market_data.timeframes import ms_to_datetime

# From 1970 to 9999, the range a datetime can write.
WHOLE_SECONDS = st.integers(0, 253_402_300_799).map(lambda seconds: seconds * 1000)
ANY_MS = st.integers(0, 253_402_300_799_999)


def one_by_one(values: list[int]) -> list[str]:
    return [iso_utc(ms_to_datetime(value)) for value in values]


@given(st.lists(WHOLE_SECONDS, max_size=50))
def test_whole_seconds_read_as_one_by_one(values: list[int]) -> None:
    assert iso_times(np.asarray(values, dtype=np.int64)) == one_by_one(values)


@given(st.lists(ANY_MS, min_size=1, max_size=50))
def test_milliseconds_read_as_one_by_one(values: list[int]) -> None:
    assert iso_times(np.asarray(values, dtype=np.int64)) == one_by_one(values)
