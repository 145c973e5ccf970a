"""A chart frame maps a whole curve exactly as it maps each of its points."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autogrid.backtest.report_charts import Frame

PRICES = st.floats(1e-9, 1e9, allow_nan=False)
TIMES = st.integers(0, 2**42)


@given(
    st.integers(120, 600),
    st.tuples(TIMES, TIMES).map(sorted),
    st.tuples(PRICES, PRICES).map(sorted),
    st.booleans(),
    st.lists(st.tuples(TIMES, PRICES), max_size=40),
)
def test_a_curve_maps_as_its_points(
    height: int, times: list[int], prices: list[float], log: bool, points: list[tuple[int, float]]
) -> None:
    box = Frame(height, float(times[0]), float(times[1]), prices[0], prices[1], log=log)
    at, values = [ms for ms, _ in points], [value for _, value in points]
    assert box.xs(at) == [box.x(ms) for ms in at]
    assert box.ys(values) == [box.y(value) for value in values]
