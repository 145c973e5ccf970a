"""Argument checks shared by the indicators; each failure is a ValueError naming the argument."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

Series = NDArray[np.float64]


def as_series(values: ArrayLike, name: str) -> Series:
    """The values as a contiguous 1-D float64 array (no copy when they already are one)."""
    series = np.ascontiguousarray(values, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got {series.ndim} dimensions")
    return series


def check_period(period: object, name: str = "period") -> int:
    # bool is an int subclass, but `period=True` is always a mistake.
    if isinstance(period, bool) or not isinstance(period, numbers.Integral):
        raise ValueError(f"{name} must be an int >= 1, got {period!r}")
    if period < 1:
        raise ValueError(f"{name} must be an int >= 1, got {period}")
    return int(period)


def check_same_length(**series: Series) -> None:
    lengths = {name: values.size for name, values in series.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"arrays must have equal lengths, got {described}")


def first_valid_index(series: Series, name: str) -> int:
    """Where the data starts: leading NaNs mean "not available yet" (e.g. the warm-up of another
    indicator fed into this one). A NaN after that, or any infinity, is an error: the recursive
    indicators would carry it forever, so it is better refused than silently spread."""
    missing = np.isnan(series)
    start = int(np.argmin(missing)) if series.size and not missing.all() else series.size
    tail = series[start:]
    if not np.isfinite(tail).all():
        if np.isnan(tail).any():
            gap = start + int(np.argmax(np.isnan(tail)))
            raise ValueError(f"{name} has a NaN at index {gap} after data started at index {start}")
        raise ValueError(f"{name} contains an infinite value")
    return start
