"""A backtest as one self-contained HTML page: the figures, then price, equity and drawdown charts.

Everything is drawn server-side as inline SVG: no script, no external stylesheet, font or CDN, so
the page opens offline, can be mailed or archived, and renders the same everywhere. The curves
come downsampled from the result (at most 2,000 points, extremes kept); trade markers are one
path per side, thinned evenly past ``MAX_MARKERS`` (the legend says how many are shown).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import TypeVar

import numpy as np

from autogrid.backtest.metrics import MIN_ANNUALISED_DAYS
from autogrid.backtest.results import BacktestResult, Curve
from autogrid.exchanges.types import Side

WIDTH = 1100
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 78, 16, 14, 26
MAX_MARKERS = 800  # per side
MARKER_SIZE = 4.0
_T = TypeVar("_T")

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;
background:#fff}h1{font-size:20px;margin:0 0 4px}p.sub{margin:0 0 16px;color:#5b6475}
table.metrics{border-collapse:collapse;margin-bottom:20px}
table.metrics td{padding:3px 14px 3px 0;border-bottom:1px solid #eceff4}
table.metrics td.v{text-align:right;font-variant-numeric:tabular-nums}
h2{font-size:15px;margin:18px 0 4px}svg{display:block;max-width:100%;height:auto}
.grid{stroke:#e3e7ee;stroke-width:1}.axis{fill:#5b6475;font-size:11px}
.price{fill:none;stroke:#3b5bdb;stroke-width:1.2}.equity{fill:none;stroke:#2b8a3e;stroke-width:1.4}
.drawdown{fill:#ffc9c9;stroke:#e03131;stroke-width:1}.buys{fill:#2f9e44}.sells{fill:#e03131}
.legend{color:#5b6475;font-size:12px;margin:2px 0 0}
"""


@dataclass(frozen=True, slots=True)
class _Frame:
    """Maps (time ms, value) into one chart's pixel box."""

    height: int
    t0: float
    t1: float
    low: float
    high: float

    def x(self, ms: float) -> float:
        span = self.t1 - self.t0 or 1.0
        return MARGIN_LEFT + (ms - self.t0) / span * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        usable = self.height - MARGIN_TOP - MARGIN_BOTTOM
        return MARGIN_TOP + (self.high - value) / span * usable


def render_report(result: BacktestResult, title: str) -> str:
    quote = result.symbol.split("/")[-1]
    span = (result.start.strftime("%Y-%m-%d %H:%M"), result.end.strftime("%Y-%m-%d %H:%M"))
    subtitle = (
        f"{result.strategy} on {result.symbol} {result.timeframe}, {span[0]} to {span[1]} UTC "
        f"({result.candles:,} candles)"
    )
    rows = "".join(
        f'<tr><td>{escape(label)}</td><td class="v">{escape(value)}</td></tr>'
        for label, value in metric_rows(result)
    )
    price_chart, legend = _price_chart(result)
    equity_chart = _line_chart(result.equity_curve, 260, "equity", f"{quote}", floor=None)
    drawdown_chart = _drawdown_chart(result.drawdown_curve)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>'
        f'<table class="metrics">{rows}</table>'
        f'<h2>Price and trades</h2>{price_chart}<p class="legend">{escape(legend)}</p>'
        f"<h2>Equity ({escape(quote)}, marked to market at each close)</h2>{equity_chart}"
        f"<h2>Drawdown (% below the running peak)</h2>{drawdown_chart}"
        "</body></html>\n"
    )


def metric_rows(result: BacktestResult) -> list[tuple[str, str]]:
    """The figures as (label, text) pairs: the report's table and the CLI's."""
    quote = result.symbol.split("/")[-1]
    # Too short a run to scale to a year: say so where each figure would be, not just "n/a".
    short = None if result.annualised else f"not given: under {MIN_ANNUALISED_DAYS} days"
    rows = [
        ("Initial equity", f"{_money(result.initial_equity)} {quote}"),
        ("Final equity", f"{_money(result.final_equity)} {quote}"),
        ("Total return", _pct(result.return_pct)),
        ("Buy and hold", _pct(result.buy_and_hold_pct)),
        ("Span", f"{result.span_days:,.1f} days"),
        ("CAGR", short or _pct(result.cagr_pct)),
        ("Max drawdown", _pct(result.max_drawdown_pct)),
        ("Sharpe (daily, 365 d)", short or _ratio(result.sharpe)),
        ("Sortino (daily, 365 d)", short or _ratio(result.sortino)),
        ("Calmar", short or _ratio(result.calmar)),
        ("Closed trades", f"{result.trades:,}"),
        ("Win rate", _pct(result.win_rate)),
        ("Profit factor", _profit_factor(result)),
        ("Fills", f"{result.fills:,}"),
        ("Round trips", f"{result.round_trips:,}"),
        ("Fees paid", f"{_money(result.fees)} {quote}"),
        ("Exposure", _pct(result.exposure_pct)),
    ]
    if result.grid is not None:
        rows += [
            ("Grid profit", f"{_money(result.grid.grid_profit)} {quote}"),
            ("Realized P&L", f"{_money(result.grid.realized_pnl)} {quote}"),
            ("Unrealized P&L", f"{_money(result.grid.unrealized_pnl)} {quote}"),
        ]
    if result.stop_reason:
        rows.append(("Stopped", result.stop_reason))
    if result.run_seconds is not None:
        rows.append(("Engine time", f"{result.run_seconds:.3f} s"))
    return rows


def _profit_factor(result: BacktestResult) -> str:
    if result.profit_factor is None and any(t.pnl > 0 for t in result.closed_trades):
        return "no losing trade"  # gross profit over no loss: "n/a" would read as no data
    return _ratio(result.profit_factor)


# --- charts ----------------------------------------------------------------------------------
def _price_chart(result: BacktestResult) -> tuple[str, str]:
    curve = result.price_curve
    frame = _frame(curve, 340, extra=[float(fill.price) for fill in result.fill_records])
    parts = [_axes(frame), _path(curve, frame, "price")]
    legend = []
    for side, css, pointing_up in ((Side.BUY, "buys", True), (Side.SELL, "sells", False)):
        fills = [fill for fill in result.fill_records if fill.side is side]
        shown = _thin(fills, MAX_MARKERS)
        marks = "".join(
            _triangle(frame.x(_ms(fill.ts)), frame.y(float(fill.price)), pointing_up)
            for fill in shown
        )
        if marks:
            parts.append(f'<path class="{css}" d="{marks}"/>')
        count = (
            f"{len(shown):,} of {len(fills):,}" if len(shown) < len(fills) else f"{len(fills):,}"
        )
        legend.append(f"{'▲ buys' if pointing_up else '▼ sells'}: {count}")
    return _svg(frame, "".join(parts), "price chart with trades"), "   ".join(legend)


def _line_chart(curve: Curve, height: int, css: str, unit: str, floor: float | None) -> str:
    frame = _frame(curve, height, floor=floor)
    body = _axes(frame) + _path(curve, frame, css)
    return _svg(frame, body, f"{css} chart ({unit})")


def _drawdown_chart(curve: Curve) -> str:
    values = [-value for value in curve.values.tolist()]
    flipped = Curve(curve.time_ms, np.asarray(values, dtype=np.float64))
    frame = _frame(flipped, 180, ceiling=0.0)
    line = _path_data(flipped, frame)
    area = f"{line}L{frame.x(float(curve.time_ms[-1])):.1f},{frame.y(0.0):.1f}"
    area += f"L{frame.x(float(curve.time_ms[0])):.1f},{frame.y(0.0):.1f}Z"
    body = _axes(frame, suffix="%") + f'<path class="drawdown" d="{area}"/>'
    return _svg(frame, body, "drawdown chart")


def _frame(
    curve: Curve,
    height: int,
    *,
    extra: Sequence[float] = (),
    floor: float | None = None,
    ceiling: float | None = None,
) -> _Frame:
    values = curve.values
    low = min(float(values.min()), *extra) if extra else float(values.min())
    high = max(float(values.max()), *extra) if extra else float(values.max())
    if floor is not None:
        low = min(low, floor)
    if ceiling is not None:
        high = max(high, ceiling)
    pad = (high - low) * 0.04 or abs(high) * 0.01 or 1.0
    return _Frame(height, float(curve.time_ms[0]), float(curve.time_ms[-1]), low - pad, high + pad)


def _svg(frame: _Frame, body: str, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {frame.height}" width="{WIDTH}" height="{frame.height}" '
        f'role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def _path_data(curve: Curve, frame: _Frame) -> str:
    points = (
        f"{frame.x(ms):.1f},{frame.y(value):.1f}"
        for ms, value in zip(curve.time_ms.tolist(), curve.values.tolist(), strict=True)
    )
    return "M" + "L".join(points)


def _path(curve: Curve, frame: _Frame, css: str) -> str:
    return f'<path class="{css}" d="{_path_data(curve, frame)}"/>'


def _triangle(x: float, y: float, pointing_up: bool) -> str:
    size = MARKER_SIZE
    # The tip touches the fill price: buys point up from below, sells down from above.
    dy = size * 1.6 if pointing_up else -size * 1.6
    return f"M{x:.1f},{y:.1f}l{size:.1f},{dy:.1f}h{-2 * size:.1f}Z"


def _axes(frame: _Frame, suffix: str = "") -> str:
    right = WIDTH - MARGIN_RIGHT
    parts = []
    for value in _nice_ticks(frame.low, frame.high):
        y = frame.y(value)
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_tick_label(value)}{suffix}</text>"
        )
    span_days = (frame.t1 - frame.t0) / 86_400_000
    for step in range(6):
        ms = frame.t0 + (frame.t1 - frame.t0) * step / 5
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
        # Dates alone repeat on spans of a few days: add the time of day there.
        text = moment.strftime("%Y-%m-%d" if span_days > 20 else "%m-%d %H:%M")
        anchor = "start" if step == 0 else "end" if step == 5 else "middle"
        parts.append(
            f'<text class="axis" x="{frame.x(ms):.1f}" y="{frame.height - 8}" '
            f'text-anchor="{anchor}">{text}</text>'
        )
    return "".join(parts)


def _nice_ticks(low: float, high: float, wanted: int = 5) -> list[float]:
    raw = (high - low) / wanted
    if raw <= 0 or not math.isfinite(raw):
        return [low]
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _tick_label(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.6g}"


def _thin(items: list[_T], limit: int) -> list[_T]:
    if len(items) <= limit:
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in picks.tolist()]


def _ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


# --- formatting ------------------------------------------------------------------------------
def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f} %"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"
