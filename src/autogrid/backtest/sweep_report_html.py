"""A sweep as one self-contained HTML page: its setup, a heat map of one figure over two varied
parameters (in and out of sample side by side for a held-out sweep), and the ranked table.

Pure rendering from values the service gathered (``SweepPage``); like the backtest report it is
inline SVG and CSS, its one script the trade list's sorter (same hash, same policy). A heat map
cell is one (x, y) pair of values; when more than two fields vary, several runs share a cell and
it shows the best of them (the page says so). Green is better: higher for returns and ratios,
lower for drawdown and fees.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from autogrid.backtest.report_trades import SORT_SCRIPT
from autogrid.backtest.schemas import RankMetric, SweepRead, SweepRunRead

LOWER_IS_BETTER = frozenset({RankMetric.MAX_DRAWDOWN_PCT, RankMetric.FEES})
CELL_W, CELL_H, LEFT, TOP = 96, 34, 120, 46

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330}
h1{font-size:20px;margin:0 0 4px}p.sub,.legend{color:#5b6475}h2{font-size:15px;margin:18px 0 4px}
table.metrics{border-collapse:collapse}table.metrics td{padding:3px 14px 3px 0;
border-bottom:1px solid #eceff4}.maps{display:flex;gap:32px;flex-wrap:wrap}
svg{display:block;max-width:100%;height:auto}.axis{fill:#5b6475;font-size:11px}
.cell{font-size:11px;fill:#1d2330}.title{font-size:12px;fill:#1d2330;font-weight:600}
table.sortable{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
table.sortable th{background:#f1f3f5;cursor:pointer;padding:4px 10px;position:sticky;top:0}
table.sortable td{padding:2px 10px;border-bottom:1px solid #f1f3f5}td.n{text-align:right}
"""


@dataclass(frozen=True, slots=True)
class SweepPage:
    """What the page shows: the sweep as read, each run's figures, and the choices made."""

    sweep: SweepRead
    setup: tuple[tuple[str, str], ...]
    figures: dict[Any, dict[str, Any]]  # run id -> its figures (empty unless it succeeded)
    x: str
    y: str | None
    metric: RankMetric


def render_sweep_report(page: SweepPage, title: str) -> str:
    sweep = page.sweep
    maps = _heat_map(page, None, "all runs")
    if sweep.holdout is not None:
        maps = _heat_map(page, "in", "in sample") + _heat_map(page, "out", "out of sample")
    shared = _shared_cells(page)
    note = (
        f"{shared} combinations share each cell (other fields vary too): "
        "each cell shows the best of them. "
        if shared > 1
        else ""
    )
    better = "lower" if page.metric in LOWER_IS_BETTER else "higher"
    setup = "".join(
        f"<tr><td>{escape(label)}</td><td>{escape(value)}</td></tr>" for label, value in page.setup
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(_subtitle(sweep))}</p>'
        f'<h2>Setup</h2><table class="metrics">{setup}</table>'
        f"<h2>{escape(page.metric.value)} by {escape(page.x)}"
        f"{' and ' + escape(page.y) if page.y else ''}</h2>"
        f'<div class="maps">{maps}</div>'
        f'<p class="legend">{escape(note)}Green is better ({better}); grey: no figure '
        "(the run failed, is unfinished, or has none).</p>"
        f"<h2>Ranked by {escape(sweep.rank_by.value)} ({escape(sweep.order.value)})</h2>"
        f"{_ranked_table(page)}<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def _subtitle(sweep: SweepRead) -> str:
    text = f"{sweep.combinations:,} combinations, {sweep.status.value}"
    if sweep.holdout is not None:
        split = sweep.holdout.split.strftime("%Y-%m-%d %H:%M")
        text += (
            f"; out of sample from {split} UTC, ranked by the "
            f"{sweep.holdout.rank_by_sample.value}-sample figures"
        )
    return text


# --- the heat map ------------------------------------------------------------------------
def _value(page: SweepPage, run: SweepRunRead, sample: str | None) -> float | None:
    part = {"in": run.in_sample, "out": run.out_of_sample}.get(sample or "")
    run_id = part.id if part is not None else run.id
    raw = page.figures.get(run_id, {}).get(page.metric.value)
    try:
        number = float(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _axis_values(page: SweepPage, name: str | None) -> list[Any]:
    return list(page.sweep.vary[name]) if name is not None else [None]


def _shared_cells(page: SweepPage) -> int:
    cells = len(_axis_values(page, page.x)) * len(_axis_values(page, page.y))
    return max(1, page.sweep.combinations // cells)


def _cell_values(page: SweepPage, sample: str | None) -> dict[tuple[str, str], float]:
    best: dict[tuple[str, str], float] = {}
    lower = page.metric in LOWER_IS_BETTER
    for run in page.sweep.runs:
        value = _value(page, run, sample)
        if value is None:
            continue
        key = (_key(run.parameters.get(page.x)), _key(run.parameters.get(page.y or "")))
        known = best.get(key)
        if known is None or (value < known if lower else value > known):
            best[key] = value
    return best


def _key(value: Any) -> str:
    return json.dumps(value)


def _heat_map(page: SweepPage, sample: str | None, caption: str) -> str:
    xs, ys = _axis_values(page, page.x), _axis_values(page, page.y)
    cells = _cell_values(page, sample)
    found = list(cells.values())
    low, high = (min(found), max(found)) if found else (0.0, 0.0)
    width, height = LEFT + CELL_W * len(xs) + 8, TOP + CELL_H * len(ys) + 8
    parts = [
        f'<text class="title" x="{LEFT}" y="14">{escape(caption)}</text>',
        f'<text class="axis" x="{LEFT}" y="30">{escape(page.x)} →</text>',
    ]
    if page.y is not None:
        parts.append(f'<text class="axis" x="4" y="{TOP - 4}">{escape(page.y)} ↓</text>')
    for i, x in enumerate(xs):
        parts.append(
            f'<text class="axis" x="{LEFT + CELL_W * i + CELL_W / 2:.0f}" y="{TOP - 4}" '
            f'text-anchor="middle">{escape(_label(x))}</text>'
        )
    for j, y in enumerate(ys):
        top = TOP + CELL_H * j
        if y is not None:
            parts.append(
                f'<text class="axis" x="{LEFT - 6}" y="{top + CELL_H / 2 + 4:.0f}" '
                f'text-anchor="end">{escape(_label(y))}</text>'
            )
        for i, x in enumerate(xs):
            value = cells.get((_key(x), _key(y)))
            colour = _colour(value, low, high, page.metric in LOWER_IS_BETTER)
            left = LEFT + CELL_W * i
            text = "—" if value is None else f"{value:,.2f}"
            parts.append(
                f'<rect class="heat" x="{left}" y="{top}" width="{CELL_W - 2}" '
                f'height="{CELL_H - 2}" fill="{colour}"><title>{escape(text)}</title></rect>'
                f'<text class="cell" x="{left + CELL_W / 2 - 1:.0f}" '
                f'y="{top + CELL_H / 2 + 4:.0f}" text-anchor="middle">{escape(text)}</text>'
            )
    label = f"heat map of {page.metric.value}, {caption}"
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


def _colour(value: float | None, low: float, high: float, lower_is_better: bool) -> str:
    """Red (worst) through yellow to green (best); grey for no figure."""
    if value is None:
        return "#dee2e6"
    share = 0.5 if high == low else (value - low) / (high - low)
    if lower_is_better:
        share = 1 - share
    red = (224, 49, 49)
    yellow = (252, 196, 25)
    green = (47, 158, 68)
    start, end, t = (red, yellow, share * 2) if share < 0.5 else (yellow, green, share * 2 - 1)
    mixed = (round(a + (b - a) * t) for a, b in zip(start, end, strict=True))
    return "#" + "".join(f"{channel:02x}" for channel in mixed)


def _label(value: Any) -> str:
    return str(value)


# --- the ranked table --------------------------------------------------------------------
def _columns(page: SweepPage) -> list[str]:
    names = [page.sweep.rank_by.value, page.metric.value, "return_pct", "max_drawdown_pct"]
    return list(dict.fromkeys([*names, "trades"]))


def _ranked_table(page: SweepPage) -> str:
    sweep = page.sweep
    fields = list(sweep.vary)
    samples: Sequence[str | None] = ("in", "out") if sweep.holdout is not None else (None,)
    columns = _columns(page)
    head = ["rank", *fields, "status"]
    head += [f"{name} ({sample})" if sample else name for sample in samples for name in columns]
    numeric = [True, *(_all_numbers(sweep, name) for name in fields), False]
    numeric += [True] * (len(head) - len(numeric))
    header = "".join(
        f'<th data-num="{int(is_number)}">{escape(title)}</th>'
        for title, is_number in zip(head, numeric, strict=True)
    )
    rows = []
    for run in sweep.runs:
        cells = [_cell(run.rank, "")]
        cells += [
            _cell(run.parameters.get(name), _label(run.parameters.get(name))) for name in fields
        ]
        cells.append(_cell(run.status.value, run.status.value, number=False))
        for sample in samples:
            part = {"in": run.in_sample, "out": run.out_of_sample}.get(sample or "")
            figures = page.figures.get(part.id if part is not None else run.id, {})
            cells += [_cell(figures.get(name), _figure(figures.get(name))) for name in columns]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<table class="sortable"><thead><tr>'
        f"{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _all_numbers(sweep: SweepRead, name: str) -> bool:
    return all(
        (isinstance(value, int | float) and not isinstance(value, bool)) or _is_decimal_text(value)
        for value in sweep.vary[name]
    )


def _is_decimal_text(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _cell(sort_value: Any, text: str | None, *, number: bool = True) -> str:
    if sort_value is None:
        key = "-Infinity" if number else ""
        return f'<td class="n" data-v="{key}">—</td>'
    shown = str(sort_value) if text == "" else text
    css = ' class="n"' if number else ""
    return f'<td{css} data-v="{escape(str(sort_value))}">{escape(shown or "")}</td>'


def _figure(raw: Any) -> str:
    if raw is None:
        return "—"
    if isinstance(raw, float):
        return f"{raw:,.2f}"
    return str(raw)
