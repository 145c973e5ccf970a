"""POST /bots with from_backtest_id: the tested configuration is the one that trades.

The backtests are submitted through the API and marked succeeded in the database (running them is
the backtest tests' business); the bot is then made through the API from each."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import Bot
from tests.backtest.api.conftest import (
    BACKTESTS,
    SWEEPS,
    RecordingQueue,
    set_row,
    submit,
    sweep_body,
)
from tests.backtest.api.conftest import body as backtest_body
from tests.bots.factories import BOTS, GRID_BODY
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for

RESULTS = {"return_pct": 1.5}


@pytest.fixture
def queue(app: FastAPI, settings: Settings) -> RecordingQueue:
    recording = RecordingQueue(settings)
    app.state.backtest_queue = recording
    return recording


def from_backtest(backtest_id: str, **changes: Any) -> dict[str, Any]:
    """The bot's own settings (name, mode, paper), the strategy named by the backtest."""
    data = {name: copy.deepcopy(GRID_BODY[name]) for name in ("name", "mode", "paper")}
    return {**data, "from_backtest_id": backtest_id, **changes}


async def succeeded(
    client: httpx.AsyncClient, user: ApiUser, db: Database, **body: Any
) -> dict[str, Any]:
    created = await submit(client, user, backtest_body(**body) if body else None)
    await set_row(db, created["id"], status="succeeded", results=RESULTS)
    read: dict[str, Any] = (
        await client.get(f"{BACKTESTS}/{created['id']}", headers=user.headers)
    ).json()
    return read


async def bot_count(db: Database) -> int:
    async with db.session_scope() as session:
        return int(await session.scalar(select(func.count()).select_from(Bot)) or 0)


async def test_a_bot_takes_the_tested_type_market_and_config(
    client: httpx.AsyncClient, user: ApiUser, db: Database, queue: RecordingQueue
) -> None:
    backtest = await succeeded(client, user, db)

    response = await client.post(BOTS, json=from_backtest(backtest["id"]), headers=user.headers)

    assert response.status_code == 201, response.text
    bot = response.json()
    assert (bot["type"], bot["exchange"], bot["symbol"]) == ("grid", "binance", "BTC/USDT")
    tested = backtest["config"]
    assert {name: bot["config"][name] for name in tested} == tested
    assert bot["status"] == "stopped" and bot["name"] == GRID_BODY["name"]
    events = await client.get(f"{BOTS}/{bot['id']}/events", headers=user.headers)
    messages = [event["message"] for event in events.json()["items"]]
    assert f"grid bot created from backtest {backtest['id']}" in messages


async def test_an_indicator_bot_reads_the_candles_it_was_tested_on(
    client: httpx.AsyncClient, user: ApiUser, db: Database, queue: RecordingQueue
) -> None:
    # The backtest's config names no timeframe: it ran on its 1m candles, so the bot reads 1m
    # candles too (a bot's own default would be another).
    rsi = {"strategy": "rsi", "period": 10, "order_quote": "500"}
    backtest = await succeeded(client, user, db, type="indicator", config=rsi)
    assert backtest["config"]["timeframe"] == "1m"

    response = await client.post(BOTS, json=from_backtest(backtest["id"]), headers=user.headers)

    assert response.status_code == 201, response.text
    bot = response.json()
    assert bot["type"] == "indicator"
    assert (bot["config"]["timeframe"], bot["config"]["period"]) == ("1m", 10)


async def test_a_sweep_run_makes_the_bot_of_its_combination(
    client: httpx.AsyncClient, user: ApiUser, db: Database, queue: RecordingQueue
) -> None:
    sweep = await client.post(
        SWEEPS, json=sweep_body({"grid_count": [10, 30]}), headers=user.headers
    )
    assert sweep.status_code == 202, sweep.text
    for run in sweep.json()["runs"]:
        await set_row(db, run["id"], status="succeeded", results=RESULTS)
    runs = (await client.get(f"{SWEEPS}/{sweep.json()['id']}", headers=user.headers)).json()
    run = next(run for run in runs["runs"] if run["parameters"] == {"grid_count": 30})

    response = await client.post(BOTS, json=from_backtest(run["id"]), headers=user.headers)

    assert response.status_code == 201, response.text
    assert response.json()["config"]["grid_count"] == 30


async def test_given_fields_must_match_the_backtest(
    client: httpx.AsyncClient, user: ApiUser, db: Database, queue: RecordingQueue
) -> None:
    backtest = await succeeded(client, user, db)
    config = {**backtest["config"], "grid_count": 30, "upper_price": "115000"}

    response = await client.post(
        BOTS,
        json=from_backtest(backtest["id"], type="dca", symbol="ETH/USDT", config=config),
        headers=user.headers,
    )

    assert_error_shape(response, 422, "conflicts_with_backtest")
    details = response.json()["error"]["details"]
    assert {tuple(detail["loc"]) for detail in details} == {
        ("body", "type"),
        ("body", "symbol"),
        ("body", "config", "grid_count"),
        ("body", "config", "upper_price"),
    }
    assert all(detail["type"] == "conflicts_with_backtest" for detail in details)
    assert {detail["tested"] for detail in details} >= {"grid", "BTC/USDT", 20}
    assert await bot_count(db) == 0

    # The same values, spelled otherwise, are no conflict.
    same = {**backtest["config"], "lower_price": "103000.00", "investment": 5000}
    agreeing = from_backtest(
        backtest["id"], type="grid", exchange="Binance", symbol="btc/usdt", config=same
    )
    created = await client.post(BOTS, json=agreeing, headers=user.headers)
    assert created.status_code == 201, created.text


async def test_only_a_succeeded_backtest_of_ones_own_makes_a_bot(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    db: Database,
    queue: RecordingQueue,
) -> None:
    queued = await submit(client, user)
    failed = await submit(client, user)
    await set_row(db, failed["id"], status="failed", error="the data ran out")
    mine = await succeeded(client, user, db)

    for backtest, status in ((queued, "queued"), (failed, "failed")):
        response = await client.post(BOTS, json=from_backtest(backtest["id"]), headers=user.headers)
        assert_error_shape(response, 409, "backtest_status_conflict")
        assert response.json()["error"]["details"] == {"status": status}
        assert status in response.json()["error"]["message"]
    for backtest_id in (mine["id"], str(uuid.uuid4())):
        await assert_not_found_for(client, other_user, "POST", BOTS, from_backtest(backtest_id))
    assert await bot_count(db) == 0


async def test_malformed_from_backtest_bodies_are_422(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    for body in (
        from_backtest("not-a-uuid"),
        {**from_backtest(str(uuid.uuid4())), "paper": None},  # a paper bot needs paper settings
        {**from_backtest(str(uuid.uuid4())), "leverage": 3},
        {**from_backtest(str(uuid.uuid4())), "type": "martingale"},
    ):
        response = await client.post(BOTS, json=body, headers=user.headers)
        assert_error_shape(response, 422, "validation_error")
    # Neither a type nor a backtest: says what is missing.
    untyped = {name: value for name, value in GRID_BODY.items() if name != "type"}
    response = await client.post(BOTS, json=untyped, headers=user.headers)
    assert_error_shape(response, 422, "validation_error")
    assert "from_backtest_id" in response.text
    assert await bot_count(db) == 0


async def test_a_signal_list_backtest_makes_no_bot_yet(
    client: httpx.AsyncClient, user: ApiUser, db: Database, queue: RecordingQueue
) -> None:
    signals = [{"at": "2025-05-20T01:00:00Z", "body": "SIGNAL=BUY"}]
    backtest = await succeeded(client, user, db, type="signal", config={"signals": signals})

    response = await client.post(BOTS, json=from_backtest(backtest["id"]), headers=user.headers)

    assert_error_shape(response, 422, "invalid")
    assert "signal" in response.json()["error"]["message"]
    assert await bot_count(db) == 0
