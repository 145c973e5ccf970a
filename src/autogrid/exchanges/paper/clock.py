"""Replay time, and where candles close. Pure: the wall clock is always passed in.

``replay_now = start + (wall_now - anchor) * speed``: at speed 60 a minute candle closes every
wall second. The arithmetic is in whole microseconds (exact), never in float seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

MICROSECOND = timedelta(microseconds=1)


def _microseconds(delta: timedelta) -> int:
    return delta // MICROSECOND


@dataclass(frozen=True, slots=True)
class ReplayClock:
    start: datetime  # replay time at the anchor
    anchor: datetime  # wall time when the replay started
    speed: Decimal  # replayed seconds per wall second

    def __post_init__(self) -> None:
        if not self.speed.is_finite() or self.speed <= 0:
            raise ValueError(f"replay speed must be positive, got {self.speed}")

    def at(self, wall_now: datetime) -> datetime:
        """Replay time at ``wall_now`` (the start, if the wall clock is before the anchor)."""
        elapsed = max(0, _microseconds(wall_now - self.anchor))
        replayed = (Decimal(elapsed) * self.speed).to_integral_value(ROUND_FLOOR)
        return self.start + timedelta(microseconds=int(replayed))

    def wall_time_of(self, replay_moment: datetime) -> datetime:
        """The earliest wall time at which the replay has reached ``replay_moment``."""
        needed = _microseconds(replay_moment - self.start)
        if needed <= 0:
            return self.anchor
        wall = (Decimal(needed) / self.speed).to_integral_value(ROUND_CEILING)
        return self.anchor + timedelta(microseconds=int(wall))


def close_time(open_time: datetime, timeframe: timedelta) -> datetime:
    return open_time + timeframe


def first_open_closing_after(moment: datetime, timeframe: timedelta) -> datetime:
    """The earliest open time whose candle closes strictly after ``moment``.

    Stored times have microsecond resolution, so ``open > moment - timeframe`` is
    ``open >= moment - timeframe + 1 µs``: an inclusive bound the candle queries take.
    """
    return moment - timeframe + MICROSECOND
