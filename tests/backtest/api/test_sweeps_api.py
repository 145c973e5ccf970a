"""Parameter sweeps: expansion, up-front validation, the size limit, and the ranking computed
from the stored results of the runs."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from autogrid.backtest.schemas import SortOrder
from autogrid.backtest.sweep_combinations import combinations
from autogrid.backtest.sweep_ranking import RunRow, rank_runs
from autogrid.core.db import Database
from tests.backtest.api.conftest import (
    BACKTESTS,
    SWEEPS,
    RecordingQueue,
    body,
    set_row,
    submit,
    sweep_body,
)
from tests.helpers import ApiUser, assert_error_shape


async def create_sweep(
    client: httpx.AsyncClient, user: ApiUser, data: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(SWEEPS, json=data, headers=user.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_sweep_queues_one_run_per_combination(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    vary: dict[str, list[object]] = {
        "grid_count": [10, 20],
        "lower_price": ["102000", "103000", "104000"],
    }

    sweep = await create_sweep(client, user, sweep_body(vary, rank_by="profit_factor"))

    assert (sweep["status"], sweep["runs_total"], sweep["rank_by"], sweep["order"]) == (
        "queued",
        6,
        "profit_factor",
        "desc",
    )
    assert sweep["counts"] == {"queued": 6, "running": 0, "succeeded": 0, "failed": 0}
    assert [run["parameters"] for run in sweep["runs"]] == combinations(vary)
    assert all(run["rank"] is None and run["status"] == "queued" for run in sweep["runs"])
    assert sorted(queue.sent) == sorted(uuid.UUID(run["id"]) for run in sweep["runs"])
    assert queue.visible_when_sent == [True]
    # Each run is a backtest of its own, with the sweep's id and its combination applied.
    run = (await client.get(f"{BACKTESTS}/{sweep['runs'][5]['id']}", headers=user.headers)).json()
    assert run["sweep_id"] == sweep["id"]
    assert (run["config"]["grid_count"], run["config"]["lower_price"]) == (20, "104000")
    listed = (await client.get(SWEEPS, headers=user.headers)).json()
    assert [item["id"] for item in listed["items"]] == [sweep["id"]]
    assert "runs" not in listed["items"][0]


async def test_the_backtest_list_can_leave_out_sweeps_runs_or_keep_only_them(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, queue: RecordingQueue
) -> None:
    alone = await submit(client, user)
    sweep = await create_sweep(client, user, sweep_body({"grid_count": [10, 20, 30]}))
    await create_sweep(client, other_user, sweep_body({"grid_count": [10, 20]}))
    runs = {run["id"] for run in sweep["runs"]}

    async def listed(query: str) -> tuple[set[str], int]:
        page = (await client.get(f"{BACKTESTS}{query}", headers=user.headers)).json()
        return {item["id"] for item in page["items"]}, page["total"]

    assert await listed("?in_sweep=false") == ({alone["id"]}, 1)
    assert await listed("?in_sweep=true") == (runs, 3)
    assert await listed("") == ({alone["id"], *runs}, 4)
    pages = [await listed(f"?in_sweep=true&limit=1&offset={at}") for at in range(3)]
    assert [total for _, total in pages] == [3, 3, 3]
    assert set().union(*(ids for ids, _ in pages)) == runs  # paged through, each run once
    bad = await client.get(f"{BACKTESTS}?in_sweep=sometimes", headers=user.headers)
    assert_error_shape(bad, 422, "validation_error")


async def test_a_sweep_over_the_size_limit_is_422_with_the_limit(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    vary: dict[str, list[object]] = {
        "grid_count": list(range(10, 21)),
        "lower_price": [str(p) for p in range(95000, 105000, 100)],
    }

    response = await client.post(SWEEPS, json=sweep_body(vary), headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    detail = response.json()["error"]["details"][0]
    assert (detail["type"], detail["limit"], detail["runs"]) == ("sweep_too_large", 1000, 1100)
    assert queue.sent == []


async def test_an_invalid_combination_is_422_naming_it(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    vary: dict[str, list[object]] = {"grid_count": [20, 60, 80], "investment": ["5000"]}

    response = await client.post(SWEEPS, json=sweep_body(vary), headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    error = response.json()["error"]
    assert error["message"].startswith("combination grid_count=60, investment='5000' is invalid")
    assert "two fees" in error["message"] and "(and 1 more)" in error["message"]
    assert [detail["combination"] for detail in error["details"]] == [
        {"grid_count": 60, "investment": "5000"},
        {"grid_count": 80, "investment": "5000"},
    ]
    assert (
        queue.sent == [] and (await client.get(SWEEPS, headers=user.headers)).json()["total"] == 0
    )


@pytest.mark.parametrize("rank_by", ["sharpe", "sortino", "cagr_pct", "calmar"])
async def test_ranking_a_short_range_by_a_yearly_figure_is_422(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, rank_by: str
) -> None:
    # Two days of candles: no run would have the figure, so nothing would be ranked.
    data = sweep_body({"grid_count": [10, 20]}, rank_by=rank_by)

    response = await client.post(SWEEPS, json=data, headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    error = response.json()["error"]
    assert error["message"].startswith(f"{rank_by} is scaled to a year")
    assert "these runs span 2.1 days" in error["message"]
    assert error["details"][0]["type"] == "range_too_short_to_annualise"
    assert error["details"][0]["min_days"] == 90
    assert queue.sent == []


async def test_ranking_ninety_days_by_sharpe_is_accepted(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    data = sweep_body({"grid_count": [10, 20]}, rank_by="sharpe")
    # First close 2025-05-20T00:01Z to last close 2025-08-18T00:01Z: 90 days.
    data["base"]["end"] = "2025-08-18T00:01:00Z"

    sweep = await create_sweep(client, user, data)

    assert sweep["rank_by"] == "sharpe" and sweep["runs_total"] == 2


@pytest.mark.parametrize(
    ("vary", "words"),
    [
        ({"grid_count": ["ten"]}, "grid_count: Input should be a valid integer"),
        ({"grid_size": [10]}, "grid_size is not a config field"),
        ({"grid_count": [10, 10]}, "grid_count lists a value twice"),
    ],
)
async def test_vary_names_config_fields_with_distinct_values(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    vary: dict[str, list[Any]],
    words: str,
) -> None:
    response = await client.post(SWEEPS, json=sweep_body(vary), headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    assert words in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "data",
    [
        sweep_body({}),
        sweep_body({"grid_count": []}),
        sweep_body({"grid_count": [10]}, rank_by="luck"),
        sweep_body({"grid_count": [10]}, order="up"),
        sweep_body({"grid_count": [[10]]}),
        {"base": body(), "vary": {"grid_count": [10]}, "owner": "me"},
    ],
)
async def test_malformed_sweeps_are_422_in_the_standard_shape(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, data: dict[str, Any]
) -> None:
    response = await client.post(SWEEPS, json=data, headers=user.headers)

    assert_error_shape(response, 422, "validation_error")


async def test_ranking_comes_from_the_stored_results_once_all_runs_finished(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    sweep = await create_sweep(
        client, user, sweep_body({"grid_count": [10, 20, 30, 40]}, rank_by="max_drawdown_pct")
    )
    first, second, third, fourth = (run["id"] for run in sweep["runs"])
    await set_row(db, first, status="succeeded", results={"max_drawdown_pct": 4.5})
    await set_row(db, second, status="running", progress=0.3)
    await set_row(db, third, status="succeeded", results={"max_drawdown_pct": 1.25})

    midway = (await client.get(f"{SWEEPS}/{sweep['id']}", headers=user.headers)).json()
    assert midway["status"] == "running"
    assert [run["id"] for run in midway["runs"]] == [first, second, third, fourth]
    assert [run["rank"] for run in midway["runs"]] == [None] * 4
    assert [run["value"] for run in midway["runs"]] == [4.5, None, 1.25, None]

    await set_row(db, second, status="failed", error="boom")
    await set_row(db, fourth, status="succeeded", results={"max_drawdown_pct": 2.0})
    done = (await client.get(f"{SWEEPS}/{sweep['id']}", headers=user.headers)).json()
    assert done["status"] == "finished"
    assert done["counts"] == {"queued": 0, "running": 0, "succeeded": 3, "failed": 1}
    # Ranked by drawdown, highest first as asked (desc); the failed run last, unranked.
    ranked = [(run["id"], run["rank"], run["value"]) for run in done["runs"]]
    assert ranked == [(first, 1, 4.5), (fourth, 2, 2.0), (third, 3, 1.25), (second, None, None)]
    assert done["runs"][3]["error"] == "boom"


async def test_a_running_sweep_shows_runs_done_and_the_best_so_far(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    sweep = await create_sweep(
        client, user, sweep_body({"grid_count": [10, 20, 30, 40]}, rank_by="return_pct")
    )
    first, second, third, _ = (run["id"] for run in sweep["runs"])
    url = f"{SWEEPS}/{sweep['id']}"
    queued = (await client.get(url, headers=user.headers)).json()
    assert (queued["runs_done"], queued["runs_total"], queued["best_so_far"]) == (0, 4, None)

    await set_row(db, first, status="succeeded", results={"return_pct": 1.5})
    await set_row(db, second, status="failed", error="boom")
    await set_row(db, third, status="running", progress=0.3)
    midway = (await client.get(url, headers=user.headers)).json()

    assert midway["status"] == "running"
    assert (midway["runs_done"], midway["runs_total"]) == (2, 4)
    assert midway["best_so_far"] == {"id": first, "parameters": {"grid_count": 10}, "value": 1.5}
    listed = (await client.get(SWEEPS, headers=user.headers)).json()["items"][0]
    assert (listed["runs_done"], listed["runs_total"]) == (2, 4)

    await set_row(db, third, status="succeeded", results={"return_pct": 2.25})
    later = (await client.get(url, headers=user.headers)).json()
    assert later["runs_done"] == 3
    assert later["best_so_far"] == {"id": third, "parameters": {"grid_count": 30}, "value": 2.25}


async def test_deleting_a_sweep_removes_its_runs_but_not_while_one_runs(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    sweep = await create_sweep(client, user, sweep_body({"grid_count": [10, 20]}))
    run_id = sweep["runs"][0]["id"]
    alone = await client.delete(f"{BACKTESTS}/{run_id}", headers=user.headers)
    assert_error_shape(alone, 409, "backtest_status_conflict")
    await set_row(db, run_id, status="running")

    refused = await client.delete(f"{SWEEPS}/{sweep['id']}", headers=user.headers)
    assert_error_shape(refused, 409, "backtest_status_conflict")
    await set_row(db, run_id, status="succeeded")
    assert (await client.delete(f"{SWEEPS}/{sweep['id']}", headers=user.headers)).status_code == 204
    gone = await client.get(f"{BACKTESTS}/{run_id}", headers=user.headers)
    assert_error_shape(gone, 404, "not_found")
    assert (await client.get(BACKTESTS, headers=user.headers)).json()["total"] == 0


def test_ranking_rules() -> None:
    rows = [
        RunRow("a", 0, "succeeded", 2),
        RunRow("b", 1, "succeeded", "10.5"),  # money is stored as text
        RunRow("c", 2, "succeeded", None),  # e.g. no Sharpe ratio
        RunRow("d", 3, "failed", None),
        RunRow("e", 4, "succeeded", 2.0),  # ties keep combination order
        RunRow("f", 5, "succeeded", -1),
    ]

    desc = rank_runs(rows, SortOrder.DESC, finished=True)
    asc = rank_runs(rows, SortOrder.ASC, finished=True)

    assert [(r.row.id, r.rank) for r in desc] == [
        ("b", 1),
        ("a", 2),
        ("e", 3),
        ("f", 4),
        ("c", None),
        ("d", None),
    ]
    assert [(r.row.id, r.rank) for r in asc] == [
        ("f", 1),
        ("a", 2),
        ("e", 3),
        ("b", 4),
        ("c", None),
        ("d", None),
    ]
    assert [r.row.id for r in rank_runs(rows, SortOrder.DESC, finished=False)] == list("abcdef")
