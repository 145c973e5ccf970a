"""GET /backtests/sweeps/{id}/report: the sweep as one HTML page, heat map and ranking, in and
out of sample; its choices validated like any request."""

from __future__ import annotations

import re
import uuid
from html import unescape
from pathlib import Path
from typing import Any

import httpx

from autogrid.core.db import Database
from tests.backtest.api.conftest import SWEEPS, RecordingQueue, set_row, sweep_body
from tests.backtest.report_checks import assert_self_contained, measure_in_chromium
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for

# Each heat map's cells as laid out, then the ranking sorted by its out-of-sample return.
MEASURE = """
const maps = [...document.querySelectorAll('svg')].map(svg => ({
  label: svg.getAttribute('aria-label'),
  width: svg.getBoundingClientRect().width,
  cells: [...svg.querySelectorAll('rect.heat')].map(r => ({
    width: r.getBoundingClientRect().width, fill: r.getAttribute('fill'),
  })),
}));
const headings = [...document.querySelectorAll('table.sortable th')];
const column = headings.findIndex(th => th.textContent === 'return_pct (out)');
headings[column].click();
const rows = [...document.querySelectorAll('table.sortable tbody tr')];
const out = document.createElement('pre');
out.id = 'measured';
out.textContent = JSON.stringify({maps, sorted: rows.map(r => r.cells[column].dataset.v)});
document.body.appendChild(out);
"""
VARY: dict[str, list[Any]] = {"grid_count": [10, 20, 30], "upper_price": ["112000", "115000"]}


def figures(grid_count: int, upper: str, part: str) -> dict[str, Any]:
    """Made-up but distinct figures: in sample more grids do better, out of sample worse."""
    shift = {"112000": 0.0, "115000": 0.5}[upper]
    ret = grid_count / 10 + shift if part == "in" else 4 - grid_count / 10 + shift
    return {"return_pct": ret, "max_drawdown_pct": 2.0 + shift, "trades": grid_count}


async def finished_sweep(
    client: httpx.AsyncClient, user: ApiUser, db: Database, **changes: Any
) -> dict[str, Any]:
    response = await client.post(SWEEPS, json=sweep_body(VARY, **changes), headers=user.headers)
    assert response.status_code == 202, response.text
    sweep: dict[str, Any] = response.json()
    for run in sweep["runs"]:
        grid_count, upper = run["parameters"]["grid_count"], run["parameters"]["upper_price"]
        parts = [("in", run["in_sample"]), ("out", run["out_of_sample"])]
        if run["in_sample"] is None:
            parts = [("in", run)]
        for part, entry in parts:
            results = figures(grid_count, upper, part)
            await set_row(db, entry["id"], status="succeeded", results=results)
    return sweep


def heat_cells(page: str, caption: str) -> list[str]:
    found = re.search(rf'aria-label="heat map of [a-z_]+, {caption}">(.*?)</svg>', page)
    assert found is not None, caption
    return [unescape(text) for text in re.findall(r'<text class="cell"[^>]*>([^<]*)<', found[1])]


async def test_held_out_sweep_report_maps_both_parts_and_ranks_them(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    db: Database,
    tmp_path: Path,
) -> None:
    sweep = await finished_sweep(client, user, db, holdout_fraction="0.3")

    response = await client.get(f"{SWEEPS}/{sweep['id']}/report", headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert_self_contained(page, response.headers["content-security-policy"])
    # x = grid_count (10, 20, 30), y = upper_price (112000, 115000): row by row.
    assert heat_cells(page, "in sample") == ["1.00", "2.00", "3.00", "1.50", "2.50", "3.50"]
    assert heat_cells(page, "out of sample") == ["3.00", "2.00", "1.00", "3.50", "2.50", "1.50"]
    # The ranked table: best in sample first, its out-of-sample figure beside it.
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.DOTALL)
    assert body is not None
    first = re.findall(r"<td[^>]*>([^<]*)</td>", body[1].split("</tr>")[0])
    assert first[:4] == ["1", "30", "115000", "succeeded"]
    assert "3.50" in first and "1.50" in first
    assert "return_pct (in)" in page and "return_pct (out)" in page
    for shown in ("grid", "binance BTC/USDT", "0.001 / 0.001", "config investment", "Split"):
        assert shown in page, shown

    measured = measure_in_chromium(page, MEASURE, tmp_path)
    assert [m["label"] for m in measured["maps"]] == [
        "heat map of return_pct, in sample",
        "heat map of return_pct, out of sample",
    ]
    for heat_map in measured["maps"]:
        assert heat_map["width"] > 300 and len(heat_map["cells"]) == 6
        assert all(cell["width"] > 50 for cell in heat_map["cells"])
        assert len({cell["fill"] for cell in heat_map["cells"]}) == 6  # six values, six colours
    assert [float(v) for v in measured["sorted"]] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]


async def test_axes_and_metric_are_chosen_and_validated(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    sweep = await finished_sweep(client, user, db)
    url = f"{SWEEPS}/{sweep['id']}/report"

    swapped = await client.get(
        url,
        params={"x": "upper_price", "y": "grid_count", "metric": "max_drawdown_pct"},
        headers=user.headers,
    )
    assert swapped.status_code == 200, swapped.text
    # Rows are grid counts now; drawdown does not depend on them.
    assert heat_cells(swapped.text, "all runs") == ["2.00", "2.50"] * 3
    assert "lower is better" not in swapped.text and "Green is better (lower)" in swapped.text

    # y left out: the other varied field.
    default_y = await client.get(url, params={"x": "upper_price"}, headers=user.headers)
    rows_by_grid_count = ["1.00", "1.50", "2.00", "2.50", "3.00", "3.50"]
    assert heat_cells(default_y.text, "all runs") == rows_by_grid_count
    for params, where in (
        ({"x": "leverage"}, ["query", "x"]),
        ({"y": "lower_price"}, ["query", "y"]),
        ({"x": "grid_count", "y": "grid_count"}, ["query", "y"]),
        ({"metric": "luck"}, ["query", "metric"]),
    ):
        response = await client.get(url, params=params, headers=user.headers)
        assert_error_shape(response, 422)
        assert response.json()["error"]["details"][0]["loc"] == where, params


async def test_another_users_sweep_report_is_404(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, queue: RecordingQueue
) -> None:
    response = await client.post(SWEEPS, json=sweep_body(VARY), headers=user.headers)
    sweep_id = response.json()["id"]
    await assert_not_found_for(client, other_user, "GET", f"{SWEEPS}/{sweep_id}/report")
    await assert_not_found_for(client, user, "GET", f"{SWEEPS}/{uuid.uuid4()}/report")
    # Unfinished: the page still renders, with no figures yet.
    unfinished = await client.get(f"{SWEEPS}/{sweep_id}/report", headers=user.headers)
    assert unfinished.status_code == 200
    assert set(heat_cells(unfinished.text, "all runs")) == {"—"}


async def test_the_report_is_documented_as_html(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    get = schema["paths"]["/api/v1/backtests/sweeps/{sweep_id}/report"]["get"]
    assert "text/html" in get["responses"]["200"]["content"]
    assert {"x", "y", "metric"} <= {param["name"] for param in get["parameters"]}
    assert "422" in get["responses"]


async def test_a_third_varied_field_shares_cells_and_one_field_draws_one_row(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    vary = {**VARY, "investment": ["4000", "5000"]}
    response = await client.post(SWEEPS, json=sweep_body(vary), headers=user.headers)
    assert response.status_code == 202, response.text
    for run in response.json()["runs"]:
        parameters = run["parameters"]
        results = figures(parameters["grid_count"], parameters["upper_price"], "in")
        # The larger investment does one point better: the cell shows that best one.
        results["return_pct"] += 1.0 if parameters["investment"] == "5000" else 0.0
        await set_row(db, run["id"], status="succeeded", results=results)

    shared = await client.get(
        f"{SWEEPS}/{response.json()['id']}/report",
        params={"x": "grid_count", "y": "upper_price"},
        headers=user.headers,
    )

    assert heat_cells(shared.text, "all runs") == ["2.00", "3.00", "4.00", "2.50", "3.50", "4.50"]
    assert "2 combinations share each cell" in shared.text

    single = await client.post(
        SWEEPS, json=sweep_body({"grid_count": [10, 20]}), headers=user.headers
    )
    for run in single.json()["runs"]:
        results = figures(run["parameters"]["grid_count"], "112000", "in")
        await set_row(db, run["id"], status="succeeded", results=results)
    row = await client.get(f"{SWEEPS}/{single.json()['id']}/report", headers=user.headers)
    assert row.status_code == 200
    assert heat_cells(row.text, "all runs") == ["1.00", "2.00"]
    assert "share each cell" not in row.text


async def test_a_failed_part_is_a_grey_cell_not_a_number(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    sweep = await finished_sweep(client, user, db, holdout_fraction="0.3")
    broken = next(
        run
        for run in sweep["runs"]
        if run["parameters"] == {"grid_count": 20, "upper_price": "112000"}
    )
    await set_row(
        db, broken["out_of_sample"]["id"], status="failed", results=None, error="no candles"
    )

    page = (await client.get(f"{SWEEPS}/{sweep['id']}/report", headers=user.headers)).text

    out = heat_cells(page, "out of sample")
    assert out.count("—") == 1 and out.count("2.00") == 0  # 20 grids, 112000 failed
    assert heat_cells(page, "in sample").count("—") == 0
    assert 'fill="#dee2e6"' in page  # grey
