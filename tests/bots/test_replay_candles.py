"""A paper replay bot whose candles are not stored is refused at create and at start with a 422
naming what is missing (the symbol, the timeframe, or the range), instead of running silently
with nothing to replay."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from autogrid.core.db import Database
from autogrid.models.candle import Candle
from tests.bots.factories import BOTS, create_bot, grid_body
from tests.helpers import ApiUser, assert_error_shape


def replay_body(**paper: Any) -> dict[str, Any]:
    body = grid_body()
    body["paper"] = {**body["paper"], **paper}
    return body


# The stored candles (conftest): binance BTC/USDT 1m, 30 of them from 2025-05-20T00:00Z.
@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        (
            replay_body(start="2025-05-19T12:00:00Z"),
            ["body", "paper", "start"],
            "no candles stored before 2025-05-20T00:00:00+00:00 to replay from 2025-05-19T12:00",
        ),
        (
            replay_body(start="2025-05-21T00:00:00Z"),
            ["body", "paper", "start"],
            "nothing to replay from 2025-05-21T00:00:00+00:00: the stored binance BTC/USDT 1m "
            "candles run from 2025-05-20T00:00:00+00:00 to 2025-05-20T00:30:00+00:00",
        ),
        (
            replay_body(timeframe="5m"),
            ["body", "paper", "timeframe"],
            "no 5m candles are stored for binance BTC/USDT (stored: 1m)",
        ),
        (
            {**grid_body(), "symbol": "ETH/USDT"},
            ["body", "symbol"],
            "no candles are stored for binance ETH/USDT",
        ),
    ],
    ids=["start before the data", "start after the data", "timeframe", "symbol"],
)
async def test_a_replay_without_its_candles_is_refused_at_create(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any], where: list[str], says: str
) -> None:
    response = await client.post(BOTS, json=body, headers=user.headers)

    assert_error_shape(response, 422, "candles_missing")
    error = response.json()["error"]
    assert says in error["message"]
    assert error["details"][0]["loc"] == where
    listed = await client.get(BOTS, headers=user.headers)
    assert listed.json()["total"] == 0


async def test_a_replay_whose_candles_went_missing_is_refused_at_start(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    async with db.session_scope() as session:
        await session.execute(delete(Candle))  # e.g. the data was re-imported elsewhere

    response = await client.post(f"{BOTS}/{bot['id']}/start", headers=user.headers)

    assert_error_shape(response, 422, "candles_missing")
    assert "no candles are stored for binance BTC/USDT" in response.json()["error"]["message"]
    current = await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert current.json()["status"] == "stopped"


async def test_editing_a_replay_onto_missing_candles_is_refused(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    bot = await create_bot(client, user)
    paper = {**bot["paper"], "timeframe": "1h"}

    response = await client.patch(
        f"{BOTS}/{bot['id']}", json={"paper": paper}, headers=user.headers
    )

    assert_error_shape(response, 422, "candles_missing")
    assert response.json()["error"]["details"][0]["loc"] == ["body", "paper", "timeframe"]
