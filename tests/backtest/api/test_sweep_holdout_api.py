"""Sweeps holding the end of their range out of sample: each combination runs on both parts, the
read shows both parts' figures side by side, ranked by the part asked for."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from autogrid.backtest.sweep_combinations import combinations
from autogrid.core.db import Database
from tests.backtest.api.conftest import SWEEPS, RecordingQueue, body, set_row, sweep_body
from tests.helpers import ApiUser, assert_error_shape

VARY = {"grid_count": [10, 20, 30]}


async def create(client: httpx.AsyncClient, user: ApiUser, **changes: Any) -> dict[str, Any]:
    response = await client.post(SWEEPS, json=sweep_body(VARY, **changes), headers=user.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_each_combination_runs_in_and_out_of_sample(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    # The range is 2025-05-20T00:00Z to 05-22T02:00Z (50 h): the last 0.3 starts after 35 h.
    sweep = await create(client, user, holdout_fraction="0.3", rank_by_sample="out")

    assert (sweep["combinations"], sweep["runs_total"]) == (3, 6)
    assert sweep["holdout"] == {"split": "2025-05-21T11:00:00Z", "rank_by_sample": "out"}
    assert [run["parameters"] for run in sweep["runs"]] == combinations(VARY)
    for run in sweep["runs"]:
        inside, outside = run["in_sample"], run["out_of_sample"]
        assert (inside["start"], inside["end"]) == ("2025-05-20T00:00:00Z", "2025-05-21T11:00:00Z")
        assert (outside["start"], outside["end"]) == (
            "2025-05-21T11:00:00Z",
            "2025-05-22T02:00:00Z",
        )
        assert run["id"] == outside["id"]  # the entry's own run is the ranked part's
        assert all(value is None for value in outside["figures"].values())
    sent = {
        uuid.UUID(run[part]["id"])
        for run in sweep["runs"]
        for part in ("in_sample", "out_of_sample")
    }
    assert sorted(queue.sent) == sorted(sent) and len(sent) == 6


async def test_ranked_by_the_part_asked_for_with_both_parts_shown(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    sweep = await create(client, user, out_of_sample_from="2025-05-21T12:30:00Z")
    assert sweep["holdout"] == {"split": "2025-05-21T12:30:00Z", "rank_by_sample": "in"}
    returns = {  # (in sample, out of sample) return_pct per combination: the best in sample
        10: (3.0, -1.0),  # did worst out of sample
        20: (1.0, 2.0),
        30: (2.0, 0.5),
    }
    for run in sweep["runs"]:
        inside, outside = returns[run["parameters"]["grid_count"]]
        for part, value in (("in_sample", inside), ("out_of_sample", outside)):
            results = {"return_pct": value, "trades": 4, "final_equity": "10100.5"}
            await set_row(db, run[part]["id"], status="succeeded", results=results)

    done = (await client.get(f"{SWEEPS}/{sweep['id']}", headers=user.headers)).json()

    assert done["status"] == "finished" and done["combinations"] == 3
    ranked = [(r["parameters"]["grid_count"], r["rank"], r["value"]) for r in done["runs"]]
    assert ranked == [(10, 1, 3.0), (30, 2, 2.0), (20, 3, 1.0)]
    best = done["runs"][0]
    assert best["in_sample"]["figures"]["return_pct"] == 3.0
    assert best["out_of_sample"]["figures"]["return_pct"] == -1.0
    assert best["out_of_sample"]["figures"]["final_equity"] == "10100.5"
    assert best["out_of_sample"]["figures"]["sharpe"] is None  # not in the results
    assert best["in_sample"]["error"] is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"holdout_fraction": "0.3", "out_of_sample_from": "2025-05-21T00:00:00Z"},
            "not both",
        ),
        ({"rank_by_sample": "out"}, "needs holdout_fraction or out_of_sample_from"),
        ({"holdout_fraction": "0.95"}, "less than or equal to 0.9"),
        ({"holdout_fraction": "0"}, "greater than 0"),
    ],
)
async def test_malformed_holdouts_are_422(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    changes: dict[str, Any],
    words: str,
) -> None:
    response = await client.post(SWEEPS, json=sweep_body(VARY, **changes), headers=user.headers)

    assert_error_shape(response, 422, "validation_error")
    assert words in response.text


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"out_of_sample_from": "2025-05-22T01:59:00Z"}, "fewer than two 1m candles"),
        ({"out_of_sample_from": "2025-05-19T00:00:00Z"}, "fewer than two 1m candles"),
        ({"holdout_fraction": "0.3", "rank_by": "sharpe"}, "sharpe is scaled to a year"),
    ],
)
async def test_a_split_that_leaves_a_part_unusable_is_422(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    changes: dict[str, Any],
    words: str,
) -> None:
    response = await client.post(SWEEPS, json=sweep_body(VARY, **changes), headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    assert words in response.json()["error"]["message"]
    assert queue.sent == []


async def test_a_yearly_ranking_is_checked_against_the_ranked_part_not_the_whole_range(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    # 100 days would do; their in-sample part, 70 days, would leave every Sharpe null.
    base = body(start="2025-05-20T00:00:00Z", end="2025-08-28T00:00:00Z")
    data = {**sweep_body(VARY), "base": base, "holdout_fraction": "0.3", "rank_by": "sharpe"}

    response = await client.post(SWEEPS, json=data, headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    assert "these runs span 70.0 days" in response.json()["error"]["message"]
    assert queue.sent == []
    ranked_out = {**data, "holdout_fraction": "0.1", "rank_by_sample": "out"}  # 10 days
    response = await client.post(SWEEPS, json=ranked_out, headers=user.headers)
    assert "these runs span 10.0 days" in response.json()["error"]["message"]


async def test_held_out_runs_count_twice_against_the_size_limit(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    vary: dict[str, list[object]] = {
        "grid_count": list(range(10, 20)),
        "lower_price": [str(price) for price in range(99000, 105000, 100)],
    }  # 600 combinations: under the limit of 1000 alone, over it run twice
    data = {**sweep_body(vary), "holdout_fraction": "0.5"}

    response = await client.post(SWEEPS, json=data, headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    detail = response.json()["error"]["details"][0]
    assert (detail["type"], detail["limit"], detail["runs"]) == ("sweep_too_large", 1000, 1200)
    assert "in and out of sample" in response.json()["error"]["message"]
