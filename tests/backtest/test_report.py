"""The HTML report: self-contained, says what was run, and its charts, levels, deals, markers and
sortable trade list really drawn (headless Chromium)."""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal as D
from pathlib import Path
from urllib.parse import unquote

import pytest

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.report import MAX_MARKERS, render_report, report_setup
from autogrid.backtest.report_trades import MAX_CSV_ROWS, MAX_TABLE_ROWS, trade_list, trades_csv
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.candles import arrays_from_rows
from tests.backtest.report_checks import assert_self_contained, measure_in_chromium
from tests.shared_data import load_csv_rows

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
TITLE = 'Grid <BTC> & "friends"'
GRID = {
    "lower_price": "100000",
    "upper_price": "120000",
    "grid_count": 60,
    "investment": "10000",
    "direction": "neutral",
}
DCA = {
    "base_order_volume": "200",
    "safety_order_volume": "200",
    "safety_order_step_percentage": "1",
    "max_safety_orders": 5,
    "take_profit": "1.5",
}
SETTINGS = BacktestSettings(MARKET, D(10_000), slippage=D("0.0005"))
# Measures every SVG path once the page has loaded, then sorts the trade list by P&L (a click on
# its heading) and reads the order; --dump-dom prints it.
MEASURE = """
const charts = [...document.querySelectorAll('svg')].map(svg => ({
  label: svg.getAttribute('aria-label'),
  width: svg.getBoundingClientRect().width,
  paths: [...svg.querySelectorAll('path')].map(p => ({
    css: p.getAttribute('class'), length: p.getTotalLength(), box: p.getBBox().width,
  })),
}));
const headings = [...document.querySelectorAll('table.sortable th')];
headings.find(th => th.textContent === 'P&L').click();
const rows = [...document.querySelectorAll('table.sortable tbody tr')];
const pnls = rows.map(r => r.cells[5].dataset.v);
const out = document.createElement('pre');
out.id = 'measured';
out.textContent = JSON.stringify({charts, pnls});
document.body.appendChild(out);
"""


def _run(bot_type: str, config: dict[str, object]) -> tuple[BacktestResult, str]:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=60_000)
    data = arrays_from_rows(rows.tolist())
    strategy = build_strategy(bot_type, config, MARKET)
    run = run_backtest(strategy, data, SETTINGS)
    result = build_result(run, data, SETTINGS, strategy=bot_type, run_seconds=0.1)
    setup = report_setup(exchange="binance", config=config, settings=SETTINGS, strategy=strategy)
    return result, render_report(result, TITLE, setup)


@pytest.fixture(scope="module")
def grid() -> tuple[BacktestResult, str]:
    return _run("grid", GRID)


@pytest.fixture(scope="module")
def dca() -> tuple[BacktestResult, str]:
    return _run("dca", DCA)


def test_page_is_self_contained_with_its_charts_drawn(grid: tuple[BacktestResult, str]) -> None:
    result, page = grid
    assert_self_contained(page)
    assert page.count("<svg") == 4  # the price chart linear and log, equity, drawdown
    paths = re.findall(r'<path class="([a-z-]+)" d="([^"]*)"', page)
    assert {css for css, _ in paths} == {"price", "buys", "sells", "levels", "equity", "drawdown"}
    for css, data in paths:
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", data)]
        assert len(numbers) > 20, css
    equity = next(data for css, data in paths if css == "equity")
    assert equity.count("L") + 1 == len(result.equity_curve.values) > 1000
    # The title is escaped wherever it appears.
    assert html.escape(TITLE) in page and TITLE not in page


def test_the_setup_tells_two_reports_apart(grid: tuple[BacktestResult, str]) -> None:
    _, page = grid
    for label, value in (
        ("Exchange", "binance"),
        ("Maker fee", "0.1 %"),
        ("Slippage (market orders)", "0.05 %"),
        ("Initial balance", "10,000.00 USDT"),
        ("grid_count", "60"),
        ("lower_price", "100000"),
    ):
        assert f'<td>{html.escape(label)}</td><td class="v">{value}</td>' in page, label
    other = dict(GRID, grid_count=40)
    _, second = _run("grid", other)
    assert '<td>grid_count</td><td class="v">40</td>' in second


def test_grid_levels_are_drawn_one_line_per_level(grid: tuple[BacktestResult, str]) -> None:
    _, page = grid
    levels = re.findall(r'<path class="levels" d="([^"]*)"', page)
    assert len(levels) == 2  # linear and log chart
    assert all(d.count("M") == GRID["grid_count"] + 1 for d in levels)  # type: ignore[operator]
    assert "grid levels: 61" in page


def test_dca_deals_are_drawn_from_first_buy_to_closing_sale(
    dca: tuple[BacktestResult, str],
) -> None:
    result, page = dca
    assert result.trades > 2
    segments = re.findall(r'<path class="deals-(?:won|lost)" d="([^"]*)"', page)
    drawn = sum(d.count("M") for d in segments)
    assert drawn == 2 * result.trades  # each deal once in each of the two price charts
    assert f"deals: {result.trades:,}" in page and "<h2>Deals</h2>" in page
    assert "levels" not in re.findall(r'<path class="([a-z-]+)"', page)


def test_markers_on_one_spot_are_drawn_once_and_the_legend_counts_all(
    grid: tuple[BacktestResult, str],
) -> None:
    result, page = grid
    buys = sum(1 for fill in result.fill_records if fill.side is Side.BUY)
    assert f"▲ buys: {buys:,}" in page
    marks = re.search(r'<path class="buys" d="([^"]*)"', page)
    assert marks is not None
    drawn = marks.group(1).count("M")
    assert 0 < drawn <= min(buys, MAX_MARKERS)
    # The neutral grid's opening fills share one candle and level: fewer markers than fills,
    # and the legend says so.
    assert drawn < buys and f"({drawn:,} markers" in page
    triangles = re.findall(r"M(-?[\d.]+),(-?[\d.]+)l", marks.group(1))
    assert len(set(triangles)) == len(triangles)


def test_trade_list_and_its_csv_hold_every_closed_trade(grid: tuple[BacktestResult, str]) -> None:
    result, page = grid
    assert 0 < result.trades < MAX_TABLE_ROWS
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.DOTALL)
    assert body is not None and body.group(1).count("<tr") == result.trades
    link = re.search(r'<a download="([^"]+)" href="data:text/csv;charset=utf-8,([^"]*)"', page)
    assert link is not None and link.group(1).endswith(".csv")
    text = unquote(html.unescape(link.group(2)))
    assert text == trades_csv(result.closed_trades)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == result.trades
    assert [D(row["pnl"]) for row in rows] == [trade.pnl for trade in result.closed_trades]


def test_long_trade_lists_are_capped_and_say_so(grid: tuple[BacktestResult, str]) -> None:
    result, _ = grid
    many = tuple(result.closed_trades) * (MAX_CSV_ROWS // len(result.closed_trades) + 2)
    page = trade_list(many, "t.csv")
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.DOTALL)
    assert body is not None and body.group(1).count("<tr") == MAX_TABLE_ROWS
    assert f"the first {MAX_TABLE_ROWS:,} of {len(many):,} closed trades" in page
    link = re.search(r'href="data:text/csv;charset=utf-8,([^"]*)"', page)
    assert link is not None
    assert unquote(html.unescape(link.group(1))) == trades_csv(many[:MAX_CSV_ROWS])
    assert f"Download the first {MAX_CSV_ROWS:,} as CSV" in page


def test_a_report_without_trades_says_so() -> None:
    far_below = {**GRID, "lower_price": "10000", "upper_price": "20000", "direction": "long"}
    result, page = _run("grid", far_below)
    assert result.trades == 0
    assert "No closed trades." in page and "<tbody>" not in page


def test_charts_render_and_trades_sort_in_headless_chromium(
    grid: tuple[BacktestResult, str], tmp_path: Path
) -> None:
    result, page = grid
    measured = measure_in_chromium(page, MEASURE, tmp_path)
    charts = measured["charts"]
    assert [chart["label"] for chart in charts] == [
        "price chart with trades (linear scale)",
        "price chart with trades (log scale)",
        "equity chart (USDT)",
        "drawdown chart",
    ]
    # The log chart is hidden until its box is ticked (this range is narrow: linear first).
    shown = [chart for chart in charts if chart["label"] != "price chart with trades (log scale)"]
    assert charts[1]["width"] == 0
    plot_width = 1100 - 78 - 16
    for chart in shown:
        assert chart["width"] > 500  # laid out on the page
        for path in chart["paths"]:
            assert path["length"] > 0, (chart["label"], path["css"])
    lines = {path["css"]: path for chart in shown for path in chart["paths"]}
    # The curves and levels run across the whole time axis; the markers are small triangles.
    for css in ("price", "equity", "drawdown", "levels"):
        assert lines[css]["box"] == pytest.approx(plot_width, abs=2), css
        assert lines[css]["length"] > plot_width
    assert lines["buys"]["length"] > 100 and lines["sells"]["length"] > 100
    # The page's script sorted the list by P&L on the click.
    pnls = [D(value) for value in measured["pnls"]]
    assert len(pnls) == result.trades and pnls == sorted(pnls)


def test_a_range_where_the_price_triples_opens_on_the_log_scale() -> None:
    n = 3_000
    prices = [100 * 3 ** (i / n) for i in range(n)]
    rows = [[i * 60_000, p, p * 1.001, p * 0.999, p, 1.0] for i, p in enumerate(prices)]
    data = arrays_from_rows(rows)
    strategy = build_strategy("dca", DCA, MARKET)
    result = build_result(run_backtest(strategy, data, SETTINGS), data, SETTINGS, strategy="dca")
    page = render_report(result, "wide")
    assert '<input type="checkbox" id="log-scale" checked>' in page
    log_chart = re.search(r'aria-label="price chart with trades \(log scale\)">(.*?)</svg>', page)
    assert log_chart is not None
    # Ticks by powers of ten: 100 and 200 at the log positions, a third of the plot apart...
    ticks = dict(
        (label, float(y))
        for y, label in re.findall(r'y="([\d.]+)" text-anchor="end">([\d,.]+)<', log_chart[1])
    )
    assert {"100", "200"} <= set(ticks)
    # ...so the price line is straight: its middle point halfway up the chart.
    price = re.search(r'<path class="price" d="M([^"]*)"', log_chart[1])
    assert price is not None
    points = [tuple(map(float, p.split(","))) for p in price[1].split("L")]
    first, middle, last = points[0], points[len(points) // 2], points[-1]
    assert middle[1] == pytest.approx((first[1] + last[1]) / 2, abs=3)


def test_a_narrow_range_opens_on_the_linear_scale(grid: tuple[BacktestResult, str]) -> None:
    assert '<input type="checkbox" id="log-scale">' in grid[1]
