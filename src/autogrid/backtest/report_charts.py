"""Drawing for the HTML reports: a chart's pixel frame (linear or log), axes, paths, markers.

Everything is inline SVG text; nothing here knows what a backtest is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import TypeVar

import numpy as np

from autogrid.backtest.results import Curve

WIDTH = 1100
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 78, 16, 14, 26
MARKER_SIZE = 4.0
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Frame:
    """Maps (time ms, value) into one chart's pixel box; ``log`` spaces values by ratio."""

    height: int
    t0: float
    t1: float
    low: float
    high: float
    log: bool = False

    def x(self, ms: float) -> float:
        span = self.t1 - self.t0 or 1.0
        return MARGIN_LEFT + (ms - self.t0) / span * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

    def y(self, value: float) -> float:
        low, high = self.low, self.high
        if self.log:
            value, low, high = (math.log10(max(v, 1e-12)) for v in (value, low, high))
        span = high - low or 1.0
        usable = self.height - MARGIN_TOP - MARGIN_BOTTOM
        return MARGIN_TOP + (high - value) / span * usable

    def xs(self, times: Sequence[float]) -> list[float]:
        """``x`` of each, the very same arithmetic without a call per point (long curves)."""
        t0, span = self.t0, self.t1 - self.t0 or 1.0
        width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
        return [MARGIN_LEFT + (ms - t0) / span * width for ms in times]

    def ys(self, values: Sequence[float]) -> list[float]:
        """``y`` of each, as ``xs``."""
        low, high = self.low, self.high
        usable = self.height - MARGIN_TOP - MARGIN_BOTTOM
        if self.log:
            low, high = (math.log10(max(v, 1e-12)) for v in (low, high))
            span = high - low or 1.0
            return [MARGIN_TOP + (high - math.log10(max(v, 1e-12))) / span * usable for v in values]
        span = high - low or 1.0
        return [MARGIN_TOP + (high - v) / span * usable for v in values]


def frame(
    curve: Curve,
    height: int,
    *,
    extra: Sequence[float] = (),
    floor: float | None = None,
    ceiling: float | None = None,
    log: bool = False,
) -> Frame:
    values = curve.values
    low = min(float(values.min()), *extra) if extra else float(values.min())
    high = max(float(values.max()), *extra) if extra else float(values.max())
    if floor is not None:
        low = min(low, floor)
    if ceiling is not None:
        high = max(high, ceiling)
    t0, t1 = float(curve.time_ms[0]), float(curve.time_ms[-1])
    if log and low > 0:
        ratio = (high / low) ** 0.04 if high > low else 1.01
        return Frame(height, t0, t1, low / ratio, high * ratio, log=True)
    pad = (high - low) * 0.04 or abs(high) * 0.01 or 1.0
    return Frame(height, t0, t1, low - pad, high + pad)


def svg(box: Frame, body: str, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {box.height}" width="{WIDTH}" height="{box.height}" '
        f'role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def path_data(curve: Curve, box: Frame) -> str:
    xs, ys = box.xs(curve.time_ms.tolist()), box.ys(curve.values.tolist())
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def path(curve: Curve, box: Frame, css: str) -> str:
    return f'<path class="{css}" d="{path_data(curve, box)}"/>'


def triangle(x: float, y: float, pointing_up: bool) -> str:
    size = MARKER_SIZE
    # The tip touches the fill price: buys point up from below, sells down from above, so a
    # buy and a sell at one price sit on either side of it instead of on each other.
    dy = size * 1.6 if pointing_up else -size * 1.6
    return f"M{x:.1f},{y:.1f}l{size:.1f},{dy:.1f}h{-2 * size:.1f}Z"


def axes(box: Frame, suffix: str = "") -> str:
    right = WIDTH - MARGIN_RIGHT
    parts = []
    ticks = _log_ticks(box.low, box.high) if box.log else nice_ticks(box.low, box.high)
    for value in ticks:
        y = box.y(value)
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick_label(value)}{suffix}</text>"
        )
    span_days = (box.t1 - box.t0) / 86_400_000
    for step in range(6):
        ms = box.t0 + (box.t1 - box.t0) * step / 5
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
        # Dates alone repeat on spans of a few days: add the time of day there.
        text = moment.strftime("%Y-%m-%d" if span_days > 20 else "%m-%d %H:%M")
        anchor = "start" if step == 0 else "end" if step == 5 else "middle"
        parts.append(
            f'<text class="axis" x="{box.x(ms):.1f}" y="{box.height - 8}" '
            f'text-anchor="{anchor}">{text}</text>'
        )
    return "".join(parts)


def nice_ticks(low: float, high: float, wanted: int = 5) -> list[float]:
    raw = (high - low) / wanted
    if raw <= 0 or not math.isfinite(raw):
        return [low]
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times each power of ten in range; the linear ticks when that gives too few."""
    ticks = [
        m * 10.0**power
        for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for m in (1, 2, 5)
        if low <= m * 10.0**power <= high
    ]
    return ticks if len(ticks) >= 3 else nice_ticks(low, high)


def tick_label(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.6g}"


def thin(items: list[_T], limit: int) -> list[_T]:
    """At most ``limit`` items, picked evenly."""
    if len(items) <= limit:
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in picks.tolist()]
