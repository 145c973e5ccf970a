"""Candles as numpy columns (the pure core's type, re-exported for the database layer)."""

from autogrid.trading.candles import CandleArrays

__all__ = ["CandleArrays"]
