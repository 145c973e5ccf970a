"""Submitting, listing, reading and deleting backtests: validation, limits and ownership."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from autogrid.core.db import Database
from autogrid.models.backtest import Backtest
from tests.backtest.api.conftest import (
    BACKTESTS,
    SWEEPS,
    RecordingQueue,
    body,
    set_row,
    submit,
    sweep_body,
    with_config,
)
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for


async def count_rows(db: Database) -> int:
    async with db.session_scope() as session:
        return int(await session.scalar(select(func.count()).select_from(Backtest)) or 0)


async def test_a_backtest_is_accepted_committed_then_sent(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    response = await client.post(BACKTESTS, json=body(), headers=user.headers)

    assert response.status_code == 202, response.text
    created = response.json()
    assert (created["status"], created["progress"], created["results"]) == ("queued", 0.0, None)
    assert created["config"]["grid_count"] == 20 and created["config"]["spacing"] == "arithmetic"
    assert created["fees"] == {"maker": "0.001", "taker": "0.001"}
    assert (created["start"], created["end"]) == ("2025-05-20T00:00:00Z", "2025-05-22T02:00:00Z")
    # One task, carrying the id, sent once the row was committed (seen from another connection).
    assert queue.sent == [uuid.UUID(created["id"])]
    assert queue.visible_when_sent == [True]


async def test_fees_default_to_the_markets_and_indicators_take_the_candles_timeframe(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    rsi = body(type="indicator", config={"strategy": "rsi", "order_quote": "500"}, fees={})

    created = await submit(client, user, rsi)

    assert created["fees"] == {"maker": "0.001", "taker": "0.001"}  # the offline test rules'
    assert created["config"]["timeframe"] == "1m"
    mismatch = body(type="indicator", config={"strategy": "rsi", "timeframe": "1h"})
    response = await client.post(BACKTESTS, json=mismatch, headers=user.headers)
    assert_error_shape(response, 422, "invalid")
    assert response.json()["error"]["details"][0]["loc"] == ["body", "config", "timeframe"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({**body(), "user_id": str(uuid.uuid4())}, ["body", "grid", "user_id"]),
        ({**body(), "status": "succeeded"}, ["body", "grid", "status"]),
        (body(type="martingale"), ["body"]),
        (body(end="2025-05-19T00:00:00Z"), ["body", "grid"]),
        (body(start="2025-05-20T00:00:00"), ["body", "grid", "start"]),
        (body(timeframe="60m"), ["body", "grid", "timeframe"]),
        (body(initial_balance="-5"), ["body", "grid", "initial_balance"]),
        (body(fees={"maker": "0.5"}), ["body", "grid", "fees", "maker"]),
        (body(slippage="NaN"), ["body", "grid", "slippage"]),
        (with_config(grid_count="twenty"), ["body", "grid", "config", "grid_count"]),
        (with_config(upper_price="90000"), ["body", "grid", "config"]),
    ],
)
async def test_bad_bodies_are_422_in_the_standard_shape(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    db: Database,
    data: dict[str, Any],
    where: list[str],
) -> None:
    response = await client.post(BACKTESTS, json=data, headers=user.headers)

    assert_error_shape(response, 422, "validation_error")
    assert response.json()["error"]["details"][0]["loc"] == where
    assert await count_rows(db) == 0 and queue.sent == []


async def test_a_config_the_strategy_refuses_is_422_naming_why(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    thin = with_config(grid_count=60)  # 150 USDT steps near 112,000: less than two 0.1 % fees
    dca_schedule = body(
        type="dca",
        config={
            "base_order_volume": "100",
            "safety_order_volume": "50",
            "safety_order_step_percentage": "1.5",
            "take_profit": "2",
            "schedule": {"amount": "20", "every": "daily"},
        },
    )

    for data, words in ((thin, "two fees"), (dca_schedule, "cannot be backtested")):
        response = await client.post(BACKTESTS, json=data, headers=user.headers)
        assert_error_shape(response, 422, "invalid")
        error = response.json()["error"]
        assert words in error["message"]
        assert error["details"][0]["loc"] == ["body", "config"]
    assert await count_rows(db) == 0 and queue.sent == []


async def test_a_range_over_the_limit_is_422_with_the_limit(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    three_years = body(start="2022-01-01T00:00:00Z", end="2025-01-01T00:00:00Z")

    response = await client.post(BACKTESTS, json=three_years, headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    detail = response.json()["error"]["details"][0]
    assert (detail["type"], detail["limit"], detail["candles"]) == (
        "range_too_long",
        1_100_000,
        1_578_240,
    )
    assert detail["loc"] == ["body", "end"]
    # The same three years of hourly candles are 26,304: fine.
    await submit(client, user, {**three_years, "timeframe": "1h"})


async def test_a_user_has_at_most_three_backtests_or_sweeps_in_progress(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    queue: RecordingQueue,
    db: Database,
) -> None:
    first = await submit(client, user)
    await submit(client, user)
    sweep = await client.post(
        SWEEPS, json=sweep_body({"grid_count": [10, 20]}), headers=user.headers
    )
    assert sweep.status_code == 202, sweep.text  # its two runs count once

    over = await client.post(BACKTESTS, json=body(), headers=user.headers)
    assert_error_shape(over, 429, "backtest_limit_reached")
    assert over.json()["error"]["details"] == {"limit": 3, "active": 3}
    over = await client.post(SWEEPS, json=sweep_body({"grid_count": [10]}), headers=user.headers)
    assert_error_shape(over, 429, "backtest_limit_reached")
    # Other users are not affected; a finished backtest frees its slot.
    await submit(client, other_user)
    await set_row(db, first["id"], status="succeeded")
    await submit(client, user)


async def test_list_is_own_newest_first_paginated_and_without_results(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    queue: RecordingQueue,
    db: Database,
) -> None:
    older = await submit(client, user)
    newer = await submit(client, user)
    await submit(client, other_user)
    await set_row(db, older["id"], status="succeeded", results={"return_pct": 1.5})

    page = (await client.get(BACKTESTS, headers=user.headers)).json()
    assert [item["id"] for item in page["items"]] == [newer["id"], older["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    assert all("results" not in item for item in page["items"])
    second = (await client.get(f"{BACKTESTS}?limit=1&offset=1", headers=user.headers)).json()
    assert [item["id"] for item in second["items"]] == [older["id"]]
    too_big = await client.get(f"{BACKTESTS}?limit=1000", headers=user.headers)
    assert_error_shape(too_big, 422, "validation_error")
    read = (await client.get(f"{BACKTESTS}/{older['id']}", headers=user.headers)).json()
    assert read["results"] == {"return_pct": 1.5}


async def test_another_users_backtest_is_404_on_every_route(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, queue: RecordingQueue
) -> None:
    mine = await submit(client, user)
    sweep = await client.post(SWEEPS, json=sweep_body({"grid_count": [10]}), headers=user.headers)
    sweep_id = sweep.json()["id"]

    for method, path in [
        ("GET", f"{BACKTESTS}/{mine['id']}"),
        ("GET", f"{BACKTESTS}/{mine['id']}/report"),
        ("DELETE", f"{BACKTESTS}/{mine['id']}"),
        ("GET", f"{SWEEPS}/{sweep_id}"),
        ("DELETE", f"{SWEEPS}/{sweep_id}"),
        ("GET", f"{BACKTESTS}/{uuid.uuid4()}"),
        ("GET", f"{SWEEPS}/{uuid.uuid4()}"),
    ]:
        await assert_not_found_for(client, other_user, method, path)
    assert (await client.get(BACKTESTS, headers=other_user.headers)).json()["total"] == 0
    assert (await client.get(SWEEPS, headers=other_user.headers)).json()["total"] == 0
    anonymous = await client.get(f"{BACKTESTS}/{mine['id']}")
    assert_error_shape(anonymous, 401, "unauthorized")


async def test_delete_queued_or_finished_but_not_running(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    queued = await submit(client, user)
    running = await submit(client, user)
    await set_row(db, running["id"], status="running")

    refused = await client.delete(f"{BACKTESTS}/{running['id']}", headers=user.headers)
    assert_error_shape(refused, 409, "backtest_status_conflict")
    assert refused.json()["error"]["details"] == {"status": "running"}
    deleted = await client.delete(f"{BACKTESTS}/{queued['id']}", headers=user.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{BACKTESTS}/{queued['id']}", headers=user.headers)
    assert_error_shape(gone, 404, "not_found")
    await set_row(db, running["id"], status="failed")
    assert (
        await client.delete(f"{BACKTESTS}/{running['id']}", headers=user.headers)
    ).status_code == 204


async def test_the_report_is_409_until_the_backtest_succeeded(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue, db: Database
) -> None:
    created = await submit(client, user)

    response = await client.get(f"{BACKTESTS}/{created['id']}/report", headers=user.headers)

    assert_error_shape(response, 409, "backtest_status_conflict")
    assert response.json()["error"]["details"] == {"status": "queued"}
    await set_row(db, created["id"], status="succeeded", report_html="<html>ok</html>")
    report = await client.get(f"{BACKTESTS}/{created['id']}/report", headers=user.headers)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert report.text == "<html>ok</html>"
    assert report.headers["content-security-policy"].startswith("default-src 'none'")
