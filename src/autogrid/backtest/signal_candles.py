"""Where indicator signals may make a strategy act: the engine skips every other candle.

A strategy with ``signal_mask(series)`` declares those candles once for the whole series. One that
also has ``signal_masks_by_phase(series)`` and ``signal_phase(state)`` narrows them by its state
(an indicator bot that is flat only acts on entry signals): the engine then follows the state's
phase, and falls back to the full mask for phases the strategy did not list. A ``signal_mask``
that returns None declares no signal candles (a DCA bot that starts its deals at once). Next-signal
lookups are a bisection in the precomputed positions, not a scan.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

NO_SIGNAL = 1 << 62  # "never": larger than any candle index


@dataclass(slots=True)
class SignalCandles:
    """The signal candles of one backtest, following the strategy's phase when it has one."""

    full: NDArray[np.bool_] | None = None
    full_positions: list[int] = field(default_factory=list)
    by_phase: dict[str, tuple[NDArray[np.bool_], list[int]]] = field(default_factory=dict)
    phase_of: Callable[[Any], str] | None = None
    mask: NDArray[np.bool_] | None = None  # the active one
    positions: list[int] = field(default_factory=list)

    @staticmethod
    def of(strategy: Any, series: Mapping[str, Any], *, by_phase: bool) -> SignalCandles:
        builder = getattr(strategy, "signal_mask", None)
        mask = None if builder is None else builder(series)
        if mask is None:
            return SignalCandles()
        full = np.asarray(mask, dtype=bool)
        signals = SignalCandles(full, np.flatnonzero(full).tolist())
        phased = getattr(strategy, "signal_masks_by_phase", None)
        phase_of = getattr(strategy, "signal_phase", None)
        if by_phase and phased is not None and phase_of is not None:
            for phase, mask in phased(series).items():
                narrowed = np.asarray(mask, dtype=bool)
                signals.by_phase[phase] = (narrowed, np.flatnonzero(narrowed).tolist())
            signals.phase_of = phase_of
        signals.mask, signals.positions = full, signals.full_positions
        return signals

    def follow(self, state: Any) -> None:
        if self.phase_of is None:
            return
        narrowed = self.by_phase.get(self.phase_of(state))
        if narrowed is None:
            self.mask, self.positions = self.full, self.full_positions
        else:
            self.mask, self.positions = narrowed

    def at(self, index: int) -> bool:
        return self.mask is not None and bool(self.mask[index])

    def next_at_or_after(self, start: int) -> int:
        """The first signal candle at or after ``start`` (a huge number when there is none)."""
        positions = self.positions
        found = bisect_left(positions, start)
        return positions[found] if found < len(positions) else NO_SIGNAL
