"""The report's trade list: a sortable table of closed trades and their CSV, inside the page.

The CSV is a ``data:`` link (the page stays one file that works offline) with the closed
trades, the first ``MAX_CSV_ROWS`` of them (as many as stored results keep); the table shows the
first ``MAX_TABLE_ROWS`` (the caption says so). Sorting is the page's one script, a few lines
with no network access; its SHA-256 is ``SCRIPT_HASH``, so a Content-Security-Policy can allow
exactly it and nothing else.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import quote

from autogrid.backtest.trades import ClosedTrade

MAX_TABLE_ROWS = 1_000
# As many as a backtest's stored results keep: the page stays a few hundred kB, whatever the run.
MAX_CSV_ROWS = 5_000
TRADE_COLUMNS = ("entry_time", "exit_time", "entry_price", "exit_price", "amount", "pnl", "fees")
_HEADINGS = ("Entry (UTC)", "Exit (UTC)", "Entry price", "Exit price", "Amount", "P&L", "Fees")

# Click a heading to sort by it; again to reverse. Cells sort by their data-v (numbers, or ISO
# times that sort as text).
SORT_SCRIPT = (
    "document.querySelectorAll('table.sortable').forEach(function(t){"
    "t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){"
    "var b=t.tBodies[0],up=th.dataset.dir!=='asc';th.dataset.dir=up?'asc':'desc';"
    "var rows=Array.from(b.rows),num=th.dataset.num==='1';"
    "rows.sort(function(r,s){var x=r.cells[i].dataset.v,y=s.cells[i].dataset.v;"
    "var d=num?parseFloat(x)-parseFloat(y):(x<y?-1:x>y?1:0);return up?d:-d;});"
    "rows.forEach(function(r){b.appendChild(r);});});});});"
)
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()


def trades_csv(trades: Sequence[ClosedTrade]) -> str:
    """One row per closed trade, the CLI's ``--trades-csv`` columns."""
    return _csv([trade.to_dict() for trade in trades])


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for row in rows:
        writer.writerow([row[column] for column in TRADE_COLUMNS])
    return out.getvalue()


def trade_list(trades: Sequence[ClosedTrade], file_name: str) -> str:
    """The section: caption with the CSV link, then the table (or a line saying there is none)."""
    if not trades:
        return '<p class="legend">No closed trades.</p>'
    # Commas, dots, colons and dashes are fine in a data: URL: only the rest is escaped.
    # Each trade's text once, for the CSV and the table alike.
    rows = [trade.to_dict() for trade in trades[: max(MAX_CSV_ROWS, MAX_TABLE_ROWS)]]
    link = "data:text/csv;charset=utf-8," + quote(_csv(rows[:MAX_CSV_ROWS]), safe=",.:-")
    shown = trades[:MAX_TABLE_ROWS]
    count = (
        f"the first {len(shown):,} of {len(trades):,} closed trades"
        if len(shown) < len(trades)
        else f"{len(trades):,} closed trades"
    )
    download = "Download all as CSV"
    if len(trades) > MAX_CSV_ROWS:
        download = f"Download the first {MAX_CSV_ROWS:,} as CSV (the CLI's --trades-csv: all)"
    numeric = (False, False, True, True, True, True, True)
    head = "".join(
        f'<th data-num="{int(is_number)}">{escape(title)}</th>'
        for title, is_number in zip(_HEADINGS, numeric, strict=True)
    )
    body = "".join(_row(trade, data) for trade, data in zip(shown, rows, strict=False))
    return (
        f'<p class="legend">{count}; click a heading to sort. '
        f'<a download="{escape(file_name)}" href="{escape(link)}">{escape(download)}</a></p>'
        f'<div class="trades"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _row(trade: ClosedTrade, data: dict[str, Any]) -> str:
    css = "win" if trade.pnl > 0 else "loss" if trade.pnl < 0 else ""
    cells = [
        f'<td data-v="{escape(data[name])}">{escape(data[name].replace("T", " ").rstrip("Z"))}</td>'
        for name in ("entry_time", "exit_time")
    ]
    cells += [
        f'<td class="n" data-v="{escape(data[name])}">{_short(getattr(trade, name))}</td>'
        for name in ("entry_price", "exit_price", "amount", "pnl", "fees")
    ]
    return f'<tr class="{css}">{"".join(cells)}</tr>'


def _short(value: Decimal) -> str:
    """Eight significant digits for the eye (an averaged entry has dozens); the CSV and the
    sort key keep every digit."""
    return escape(f"{value:.8g}")
