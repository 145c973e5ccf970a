"""A range split into parts (``split_range``: a long range's parallel loads and its candle
files' pieces): the parts cover it exactly, in order, as evenly as microseconds allow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from autogrid.market_data.repository import split_range

# Any fixed offset, so the two ends may be in different zones; a day inside datetime's limits,
# so an edge shown in the start's zone stays representable.
ZONES = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)
START = datetime(2025, 5, 20, tzinfo=UTC)


@given(MOMENTS, MOMENTS, st.integers(min_value=1, max_value=64))
@example(START, START, 8)  # an empty range: every part empty
@example(START, START + timedelta(microseconds=3), 8)  # fewer microseconds than parts
def test_the_parts_cover_the_range_in_order_and_evenly(
    one: datetime, other: datetime, parts: int
) -> None:
    start, end = sorted((one, other))
    edges = split_range(start, end, parts)
    assert len(edges) == parts + 1
    assert edges[0] == start and edges[-1] == end
    widths = [high - low for low, high in pairwise(edges)]
    assert all(width >= timedelta(0) for width in widths)
    assert max(widths) - min(widths) <= timedelta(microseconds=1)
    assert sum(widths, timedelta(0)) == end - start


def test_a_day_in_eight_parts_is_eight_three_hour_parts() -> None:
    edges = split_range(START, START + timedelta(days=1), 8)
    assert edges == [START + timedelta(hours=3 * at) for at in range(9)]


def test_no_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_range(START, START + timedelta(days=1), 0)
