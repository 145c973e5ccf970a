"""A signal-list backtest through the API: bodies parsed at submission (an unparsable one is
refused with its index and position), run by the worker's own code on stored real candles."""

from __future__ import annotations

import uuid
from decimal import Decimal as D
from pathlib import Path

import httpx

from autogrid.backtest.loader import load_candles
from autogrid.backtest.tasks import Outcome, execute_backtest
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.backtest.api.conftest import BACKTESTS, RecordingQueue, body, row_of, submit
from tests.helpers import ApiUser, assert_error_shape

SIGNALS = [
    {"at": "2025-05-20T01:00:00Z", "body": "SIGNAL=BUY\nVOLUME=0.01"},
    {"at": "2025-05-20T05:30:20Z", "body": "SIGNAL=SELL"},
    {"at": "2025-05-19T00:00:00Z", "body": "SIGNAL=BUY"},  # before the candles
]


def signal_body(signals: list[dict[str, str]]) -> dict[str, object]:
    return body(type="signal", config={"signals": signals}, slippage="0")


async def test_an_unparsable_signal_is_422_with_its_index_and_position(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    bad = [*SIGNALS[:1], {"at": "2025-05-20T02:00:00Z", "body": "SIGNAL=BUY\nVOLUME=x"}]
    response = await client.post(BACKTESTS, json=signal_body(bad), headers=user.headers)
    assert_error_shape(response, 422, "invalid")
    problem = response.json()["error"]["details"][0]
    assert problem["loc"] == ["body", "config", "signals", "1", "body"]
    assert "at character 18" in problem["msg"]
    assert queue.sent == []


async def test_a_signal_list_runs_and_answers_every_signal(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    created = await submit(client, user, signal_body(SIGNALS))
    assert created["config"]["signals"][1]["body"] == "SIGNAL=SELL"

    outcome = await execute_backtest(uuid.UUID(created["id"]), settings)

    assert outcome is Outcome.SUCCEEDED
    row = await row_of(db, created["id"])
    assert row is not None and row.results is not None
    data = load_candles(candles)
    # Delivered at the first candle opening at or after each time: 01:00 and 05:31.
    bought = D(repr(float(data.open[60])))
    sold = D(repr(float(data.open[5 * 60 + 31])))
    expected = D("0.01") * sold * D("0.999") - D("0.01") * bought * D("1.001")
    final = D(row.results["final_equity"])
    assert (final - D(10_000)).quantize(D("0.01")) == expected.quantize(D("0.01"))
    answers = {item["signal"]: item for item in row.results["signals"]}
    assert set(answers) == {0, 1, 2}
    assert answers[0]["accepted"] and answers[1]["accepted"]
    assert not answers[2]["accepted"] and "not replayed" in answers[2]["reason"]
