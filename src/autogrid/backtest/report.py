"""A backtest as one self-contained HTML page: what was run, the figures, the price chart with its
trades, equity, drawdown and the list of closed trades.

Charts are drawn server-side as inline SVG; no external stylesheet, font, image or CDN, so the
page opens offline, can be mailed or archived, and renders the same everywhere. Its only script
sorts the trade list (``report_trades.SCRIPT_HASH`` lets a Content-Security-Policy allow exactly
it); the log-scale switch is a checkbox and CSS. The setup table (exchange, fees, slippage,
balance, every config value) tells two reports apart. A grid's initial ladder is drawn as
dashed levels, a DCA bot's deals as segments from the first buy to the closing sale.

Trade markers: one path per side; fills that land on the same pixel are drawn once, then the
rest thinned evenly past ``MAX_MARKERS`` (the legend says how many are shown). Buys point up
from below their price and sells down from above it, half transparent with a white edge, so
neither hides the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import Any

import numpy as np

from autogrid.backtest.engine import BacktestSettings, TradeRecord
from autogrid.backtest.metrics import MIN_ANNUALISED_DAYS
from autogrid.backtest.report_charts import (
    MARGIN_LEFT,
    MARGIN_RIGHT,
    WIDTH,
    Frame,
    axes,
    frame,
    path,
    path_data,
    svg,
    thin,
    triangle,
)
from autogrid.backtest.report_trades import SORT_SCRIPT, trade_list
from autogrid.backtest.results import BacktestResult, Curve
from autogrid.backtest.trades import ClosedTrade
from autogrid.exchanges.types import Side
from autogrid.trading.strategies.base import Strategy
from autogrid.trading.strategies.grid import GridStrategy

MAX_MARKERS = 800  # per side
MAX_DEALS = 400
LOG_SCALE_RATIO = 2.0  # the price doubled (or halved) over the range: log scale shown first

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;
background:#fff}h1{font-size:20px;margin:0 0 4px}p.sub{margin:0 0 16px;color:#5b6475}
.tables{display:flex;gap:40px;flex-wrap:wrap;align-items:flex-start}
table.metrics{border-collapse:collapse;margin-bottom:20px}
table.metrics td{padding:3px 14px 3px 0;border-bottom:1px solid #eceff4}
table.metrics td.v{text-align:right;font-variant-numeric:tabular-nums}
h2{font-size:15px;margin:18px 0 4px}svg{display:block;max-width:100%;height:auto}
.grid{stroke:#e3e7ee;stroke-width:1}.axis{fill:#5b6475;font-size:11px}
.price{fill:none;stroke:#3b5bdb;stroke-width:1.2}.equity{fill:none;stroke:#2b8a3e;stroke-width:1.4}
.drawdown{fill:#ffc9c9;stroke:#e03131;stroke-width:1}
.buys{fill:#2f9e44;fill-opacity:.75;stroke:#fff;stroke-width:.6}
.sells{fill:#e03131;fill-opacity:.75;stroke:#fff;stroke-width:.6}
.levels{stroke:#adb5bd;stroke-width:.8;stroke-dasharray:4 3;fill:none}
.deals-won{stroke:#2f9e44;stroke-width:2;fill:none;stroke-linecap:round}
.deals-lost{stroke:#e03131;stroke-width:2;fill:none;stroke-linecap:round}
.legend{color:#5b6475;font-size:12px;margin:2px 0 0}
.log{display:none}#log-scale:checked~.log{display:block}#log-scale:checked~.linear{display:none}
label{font-size:12px;color:#5b6475}
div.trades{max-height:420px;overflow:auto;border:1px solid #eceff4;display:inline-block}
table.sortable{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
table.sortable th{position:sticky;top:0;background:#f1f3f5;cursor:pointer;padding:4px 10px}
table.sortable td{padding:2px 10px;border-bottom:1px solid #f1f3f5}td.n{text-align:right}
tr.win td:nth-child(6){color:#2b8a3e}tr.loss td:nth-child(6){color:#c92a2a}
"""


@dataclass(frozen=True, slots=True)
class ReportSetup:
    """What the run was given, beyond what its result says: shown so reports can be told apart."""

    rows: tuple[tuple[str, str], ...] = ()
    grid_levels: tuple[float, ...] = ()  # the ladder's initial level prices, low to high


def report_setup(
    *,
    exchange: str,
    config: Mapping[str, Any],
    settings: BacktestSettings,
    strategy: Strategy[Any] | None = None,
) -> ReportSetup:
    quote = settings.market.quote
    rows = [
        ("Exchange", exchange),
        ("Initial balance", f"{_money(settings.initial_quote)} {quote}"),
        ("Maker fee", _rate(settings.maker_fee)),
        ("Taker fee", _rate(settings.taker_fee)),
        ("Slippage (market orders)", _rate(settings.slippage)),
    ]
    rows += [(name, _config_text(value)) for name, value in config.items() if value is not None]
    levels: tuple[float, ...] = ()
    if isinstance(strategy, GridStrategy):
        count = strategy.config.grid_count
        levels = tuple(float(strategy.ladder.price_at(level)) for level in range(count + 1))
    return ReportSetup(tuple(rows), levels)


def render_report(result: BacktestResult, title: str, setup: ReportSetup | None = None) -> str:
    setup = setup or ReportSetup()
    quote = result.symbol.split("/")[-1]
    span = (result.start.strftime("%Y-%m-%d %H:%M"), result.end.strftime("%Y-%m-%d %H:%M"))
    subtitle = (
        f"{result.strategy} on {result.symbol} {result.timeframe}, {span[0]} to {span[1]} UTC "
        f"({result.candles:,} candles)"
    )
    tables = _table("Results", metric_rows(result))
    if setup.rows:
        tables = _table("Setup", list(setup.rows)) + tables
    equity_chart = _line_chart(result.equity_curve, 260, "equity", f"{quote}")
    drawdown_chart = _drawdown_chart(result.drawdown_curve)
    file_name = f"trades-{result.strategy}-{result.symbol.replace('/', '-')}.csv"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>'
        f'<div class="tables">{tables}</div>'
        f"<h2>Price and trades</h2>{_price_section(result, setup)}"
        f"<h2>Equity ({escape(quote)}, marked to market at each close)</h2>{equity_chart}"
        f"<h2>Drawdown (% below the running peak)</h2>{drawdown_chart}"
        f"<h2>{'Deals' if result.strategy == 'dca' else 'Closed trades'}</h2>"
        f"{trade_list(result.closed_trades, file_name)}"
        f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def _table(caption: str, rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><td>{escape(label)}</td><td class="v">{escape(value)}</td></tr>'
        for label, value in rows
    )
    return f'<div><h2>{escape(caption)}</h2><table class="metrics">{cells}</table></div>'


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
def _price_section(result: BacktestResult, setup: ReportSetup) -> str:
    """The price chart twice, linear and log, one shown at a time by a checkbox (no script)."""
    linear, legend = _price_chart(result, setup, log=False)
    logarithmic, _ = _price_chart(result, setup, log=True)
    prices = result.price_curve.values
    wide = float(prices.max()) >= LOG_SCALE_RATIO * float(prices.min()) > 0
    checked = " checked" if wide else ""
    return (
        f'<input type="checkbox" id="log-scale"{checked}>'
        '<label for="log-scale">log-scale price axis</label>'
        f'<div class="linear">{linear}</div><div class="log">{logarithmic}</div>'
        f'<p class="legend">{escape(legend)}</p>'
    )


def _price_chart(result: BacktestResult, setup: ReportSetup, *, log: bool) -> tuple[str, str]:
    curve = result.price_curve
    extra = [float(fill.price) for fill in result.fill_records] + list(setup.grid_levels)
    box = frame(curve, 340, extra=extra, log=log)
    parts = [axes(box)]
    legend = []
    if setup.grid_levels:
        lines = "".join(
            f"M{MARGIN_LEFT},{box.y(level):.1f}H{WIDTH - MARGIN_RIGHT}"
            for level in setup.grid_levels
        )
        parts.append(f'<path class="levels" d="{lines}"/>')
        legend.append(f"- - grid levels: {len(setup.grid_levels)} (the initial ladder)")
    parts.append(path(curve, box, "price"))
    if result.strategy == "dca":
        deals, text = _deals(result.closed_trades, box)
        parts.append(deals)
        legend.append(text)
    for side, css, pointing_up in ((Side.BUY, "buys", True), (Side.SELL, "sells", False)):
        fills = [fill for fill in result.fill_records if fill.side is side]
        spots = _distinct_spots(fills, box)
        shown = thin(spots, MAX_MARKERS)
        marks = "".join(triangle(x, y, pointing_up) for x, y in shown)
        if marks:
            parts.append(f'<path class="{css}" d="{marks}"/>')
        count = f"{len(fills):,}"
        if len(shown) < len(fills):
            count += f" ({len(shown):,} markers: fills on one spot drawn once, then thinned)"
        legend.append(f"{'▲ buys' if pointing_up else '▼ sells'}: {count}")
    scale = "log" if log else "linear"
    label = f"price chart with trades ({scale} scale)"
    return svg(box, "".join(parts), label), "   ".join(legend)


def _distinct_spots(fills: Sequence[TradeRecord], box: Frame) -> list[tuple[float, float]]:
    """Each fill's pixel, once: a thousand fills on one level in one candle are one marker."""
    # Snapped to whole pixels: markers a fraction of a pixel apart would hide each other anyway.
    spots = {
        (float(round(box.x(fill.ts.timestamp() * 1000))), float(round(box.y(float(fill.price)))))
        for fill in fills
    }
    return sorted(spots)


def _deals(trades: Sequence[ClosedTrade], box: Frame) -> tuple[str, str]:
    """Each DCA deal, from its first buy (at the average entry) to its closing sale."""
    shown = thin(list(trades), MAX_DEALS)
    won = [t for t in shown if t.pnl > 0]
    lost = [t for t in shown if t.pnl <= 0]
    parts = []
    for css, group in (("deals-won", won), ("deals-lost", lost)):
        segments = "".join(
            f"M{box.x(t.entry_time.timestamp() * 1000):.1f},{box.y(float(t.entry_price)):.1f}"
            f"L{box.x(t.exit_time.timestamp() * 1000):.1f},{box.y(float(t.exit_price)):.1f}"
            for t in group
        )
        if segments:
            parts.append(f'<path class="{css}" d="{segments}"/>')
    wins = sum(1 for t in trades if t.pnl > 0)
    text = f"deals: {len(trades):,} ({wins:,} won, green; {len(trades) - wins:,} not, red)"
    if len(shown) < len(trades):
        text += f", {len(shown):,} drawn"
    return "".join(parts), text


def _line_chart(curve: Curve, height: int, css: str, unit: str) -> str:
    box = frame(curve, height)
    return svg(box, axes(box) + path(curve, box, css), f"{css} chart ({unit})")


def _drawdown_chart(curve: Curve) -> str:
    values = [-value for value in curve.values.tolist()]
    flipped = Curve(curve.time_ms, np.asarray(values, dtype=np.float64))
    box = frame(flipped, 180, ceiling=0.0)
    line = path_data(flipped, box)
    area = f"{line}L{box.x(float(curve.time_ms[-1])):.1f},{box.y(0.0):.1f}"
    area += f"L{box.x(float(curve.time_ms[0])):.1f},{box.y(0.0):.1f}Z"
    body = axes(box, suffix="%") + f'<path class="drawdown" d="{area}"/>'
    return svg(box, body, "drawdown chart")


# --- formatting ------------------------------------------------------------------------------
def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f} %"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _rate(value: Decimal) -> str:
    text = f"{value * 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"


def _config_text(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)
