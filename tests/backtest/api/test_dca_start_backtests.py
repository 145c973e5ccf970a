"""Backtesting a DCA bot with an indicator start condition through the API: the rule reads the
replayed candles, so its timeframe is theirs (filled in when left out, refused when different)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.backtest.api.conftest import BACKTESTS, RecordingQueue, body, submit
from tests.bots.factories import DCA_CONFIG
from tests.helpers import ApiUser, assert_error_shape


def dca(start: Any) -> dict[str, Any]:
    return body(type="dca", config={**DCA_CONFIG, "start_condition": start})


async def test_the_start_condition_takes_the_replayed_timeframe(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    created = await submit(client, user, dca({"strategy": "rsi", "buy_below": 25}))

    assert created["config"]["start_condition"] == {
        "strategy": "rsi",
        "timeframe": "1m",
        "period": 14,
        "buy_below": 25.0,
    }
    same = await submit(client, user, dca({"strategy": "macd", "timeframe": "1m"}))
    assert same["config"]["start_condition"]["timeframe"] == "1m"
    immediate = await submit(client, user, dca("immediate"))
    assert immediate["config"]["start_condition"] == "immediate"


async def test_a_different_start_timeframe_is_422(
    client: httpx.AsyncClient, user: ApiUser, queue: RecordingQueue
) -> None:
    response = await client.post(
        BACKTESTS, json=dca({"strategy": "rsi", "timeframe": "1h"}), headers=user.headers
    )

    assert_error_shape(response, 422, "invalid")
    error = response.json()["error"]
    assert "start_condition.timeframe 1h does not match the backtest's 1m" in error["message"]
    assert error["details"][0]["loc"] == ["body", "config", "start_condition", "timeframe"]
    assert queue.sent == []
