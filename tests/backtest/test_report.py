"""The HTML report: self-contained, and its charts really drawn (headless Chromium)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path

import pytest

from autogrid.backtest.engine import BacktestSettings, arrays_from_rows, run_backtest
from autogrid.backtest.report import MAX_MARKERS, render_report
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, GridConfig
from tests.infra import IN_CI
from tests.shared_data import load_csv_rows

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
TITLE = 'Grid <BTC> & "friends"'
# Counts every SVG path's drawn length and box once the page has loaded; --dump-dom prints it.
MEASURE = """<script>
const charts = [...document.querySelectorAll('svg')].map(svg => ({
  label: svg.getAttribute('aria-label'),
  width: svg.getBoundingClientRect().width,
  paths: [...svg.querySelectorAll('path')].map(p => ({
    css: p.getAttribute('class'), length: p.getTotalLength(), box: p.getBBox().width,
  })),
}));
const out = document.createElement('pre');
out.id = 'measured';
out.textContent = JSON.stringify(charts);
document.body.appendChild(out);
</script>"""


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=60_000)
    data = arrays_from_rows(rows.tolist())
    config = GridConfig(
        D(100_000), D(120_000), 60, investment=D(10_000), direction=Direction.NEUTRAL
    )
    settings = BacktestSettings(MARKET, D(10_000))
    run = run_backtest(GridStrategy(config, MARKET), data, settings)
    return build_result(run, data, settings, strategy="grid", run_seconds=0.1)


def test_page_is_self_contained_with_three_drawn_charts(result: BacktestResult) -> None:
    page = render_report(result, TITLE)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|url\(|@import", page)
    assert page.count("<svg") == 3
    paths = re.findall(r'<path class="([a-z]+)" d="([^"]*)"', page)
    assert {css for css, _ in paths} == {"price", "buys", "sells", "equity", "drawdown"}
    for css, data in paths:
        # A real line: many points, all inside the chart's box.
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", data)]
        assert len(numbers) > 20, css
    equity = next(data for css, data in paths if css == "equity")
    assert equity.count("L") + 1 == len(result.equity_curve.values) > 1000
    # The title is escaped wherever it appears.
    assert html.escape(TITLE) in page and TITLE not in page


def test_table_and_legend_say_what_is_shown(result: BacktestResult) -> None:
    page = render_report(result, "report")
    for label in ("Final equity", "Max drawdown", "Sharpe", "Grid profit", "Unrealized P&amp;L"):
        assert label in page
    buys = sum(1 for fill in result.fill_records if fill.side is Side.BUY)
    shown = min(buys, MAX_MARKERS)
    expected = f"{shown:,} of {buys:,}" if buys > MAX_MARKERS else f"{buys:,}"
    assert f"▲ buys: {expected}" in page
    marks = re.search(r'<path class="buys" d="([^"]*)"', page)
    assert marks is not None and marks.group(1).count("M") == shown


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "headless Chromium is not installed (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"CI requires it: {message}", pytrace=False)
    pytest.skip(message)


def test_charts_render_in_headless_chromium(result: BacktestResult, tmp_path: Path) -> None:
    browser = _chromium()
    page = render_report(result, TITLE).replace("</body>", MEASURE + "</body>")
    report = tmp_path / "report.html"
    report.write_text(page, encoding="utf-8")
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1600",
        "--dump-dom",
        report.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, f"no measurements in Chromium's output: {done.stderr[-2000:]}"
    charts = json.loads(html.unescape(found.group(1)))
    assert [chart["label"] for chart in charts] == [
        "price chart with trades",
        "equity chart (USDT)",
        "drawdown chart",
    ]
    plot_width = 1100 - 78 - 16
    for chart in charts:
        assert chart["width"] > 500  # laid out on the page
        for path in chart["paths"]:
            assert path["length"] > 0, (chart["label"], path["css"])
    lines = {path["css"]: path for chart in charts for path in chart["paths"]}
    # The curves run across the whole time axis; the markers are many small triangles.
    for css in ("price", "equity", "drawdown"):
        assert lines[css]["box"] == pytest.approx(plot_width, abs=2), css
        assert lines[css]["length"] > plot_width
    assert lines["buys"]["length"] > 100 and lines["sells"]["length"] > 100
