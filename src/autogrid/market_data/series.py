"""Checks on a candle series as a whole: alignment, strict time order, and gaps.

Pure and incremental (one timestamp at a time), so a file of any length is checked while it
streams. Gaps are not errors: exchanges have outages and publish no candles for them, so a gap is
reported and the candles around it are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from autogrid.market_data.timeframes import Timeframe, format_ms

DEFAULT_GAP_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Gap:
    """Candles missing between two consecutive open times of a series."""

    previous_ms: int  # last candle before the gap
    next_ms: int  # first candle after it
    missing: int

    def __str__(self) -> str:
        previous, following = format_ms(self.previous_ms), format_ms(self.next_ms)
        return f"{previous} -> {following} ({self.missing} missing)"


@dataclass(frozen=True, slots=True)
class GapReport:
    gap_count: int
    missing_candles: int
    examples: tuple[Gap, ...]  # the first few gaps, in time order

    def describe(self) -> str:
        if not self.gap_count:
            return "none"
        return f"{self.gap_count} gaps, {self.missing_candles} missing candles"


@dataclass(slots=True)
class SeriesChecker:
    """Feed open times in file order; ``check`` returns a problem or ``None``."""

    timeframe: Timeframe
    gap_examples: int = DEFAULT_GAP_EXAMPLES
    previous_ms: int | None = None
    first_ms: int | None = None
    gap_count: int = 0
    missing_candles: int = 0
    _examples: list[Gap] = field(default_factory=list)

    def check(self, ts_ms: int) -> str | None:
        if not self.timeframe.is_aligned(ts_ms):
            candle_open = format_ms(self.timeframe.floor(ts_ms))
            return (
                f"timestamp {ts_ms} ({format_ms(ts_ms)}) is not aligned to the "
                f"{self.timeframe.name} timeframe (the candle opens at {candle_open})"
            )
        previous = self.previous_ms
        if previous is not None:
            if ts_ms == previous:
                return f"duplicate timestamp {ts_ms} ({format_ms(ts_ms)}): same as the previous row"
            if ts_ms < previous:
                return (
                    f"timestamp {ts_ms} ({format_ms(ts_ms)}) is earlier than the previous row's "
                    f"{previous} ({format_ms(previous)}); rows must strictly increase in time"
                )
            missing = self.timeframe.missing_between(previous, ts_ms)
            if missing:
                self._record_gap(Gap(previous, ts_ms, missing))
        else:
            self.first_ms = ts_ms
        self.previous_ms = ts_ms
        return None

    def check_batch(self, ts_ms: npt.NDArray[np.int64]) -> bool:
        """Take a whole batch of open times at once when all pass; else change nothing.

        ``False`` only says some time fails: ``check`` them one by one to learn which and why.
        """
        if not len(ts_ms):
            return True
        frame = self.timeframe
        if ((ts_ms - frame.anchor_ms) % frame.ms).any():
            return False
        previous = self.previous_ms
        steps = np.diff(ts_ms) if previous is None else np.diff(ts_ms, prepend=previous)
        if (steps <= 0).any():
            return False
        starts = ts_ms[:-1] if previous is None else np.concatenate(([previous], ts_ms[:-1]))
        missing = steps // frame.ms - 1
        for at in np.flatnonzero(missing).tolist():
            self._record_gap(Gap(int(starts[at]), int(starts[at] + steps[at]), int(missing[at])))
        if previous is None:
            self.first_ms = int(ts_ms[0])
        self.previous_ms = int(ts_ms[-1])
        return True

    def _record_gap(self, gap: Gap) -> None:
        self.gap_count += 1
        self.missing_candles += gap.missing
        if len(self._examples) < self.gap_examples:
            self._examples.append(gap)

    @property
    def last_ms(self) -> int | None:
        return self.previous_ms

    def gap_report(self) -> GapReport:
        return GapReport(self.gap_count, self.missing_candles, tuple(self._examples))
