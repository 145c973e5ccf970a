"""GET/PUT /api/v1/account/limits: each user reads and replaces only their own limits, and every
bad value is a 422 in the one error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import ApiUser, assert_error_shape

URL = "/api/v1/account/limits"
FULL = {
    "max_trades_per_day": 10,
    "max_daily_loss": "250.5",
    "max_risk_per_trade_pct": "2",
    "max_open_positions": 3,
}


async def test_limits_start_empty_are_replaced_and_stay_private(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    empty = await client.get(URL, headers=user.headers)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {
        "max_trades_per_day": None,
        "max_daily_loss": None,
        "max_risk_per_trade_pct": None,
        "max_open_positions": None,
        "updated_at": None,
    }

    put = await client.put(URL, json=FULL, headers=user.headers)
    assert put.status_code == 200, put.text
    body = put.json()
    assert {k: body[k] for k in FULL} == FULL and body["updated_at"] is not None
    assert (await client.get(URL, headers=user.headers)).json() == body

    # Another user's limits are theirs: still empty, and setting them leaves ours alone.
    assert (await client.get(URL, headers=other_user.headers)).json()["max_trades_per_day"] is None
    await client.put(URL, json={"max_open_positions": 1}, headers=other_user.headers)
    assert (await client.get(URL, headers=user.headers)).json()["max_open_positions"] == 3

    # A PUT replaces them all: what is left out is no limit any more.
    again = await client.put(URL, json={"max_daily_loss": "100"}, headers=user.headers)
    assert again.json()["max_trades_per_day"] is None
    assert again.json()["max_daily_loss"] == "100"


async def test_limits_need_a_login(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get(URL), 401)
    assert_error_shape(await client.put(URL, json=FULL), 401)


@pytest.mark.parametrize(
    "body",
    [
        {"max_trades_per_day": 0},
        {"max_trades_per_day": -1},
        {"max_trades_per_day": 1.5},
        {"max_daily_loss": "0"},
        {"max_daily_loss": "-5"},
        {"max_daily_loss": "NaN"},
        {"max_daily_loss": "abc"},
        {"max_risk_per_trade_pct": "0"},
        {"max_risk_per_trade_pct": "100.01"},
        {"max_risk_per_trade_pct": "Infinity"},
        {"max_open_positions": 0},
        {"user_id": "00000000-0000-0000-0000-000000000000"},
        {"unknown": 1},
    ],
)
async def test_bad_limits_are_refused(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any]
) -> None:
    assert_error_shape(await client.put(URL, json=body, headers=user.headers), 422)
    assert (await client.get(URL, headers=user.headers)).json()["updated_at"] is None


async def test_a_share_of_exactly_100_is_allowed(client: httpx.AsyncClient, user: ApiUser) -> None:
    put = await client.put(URL, json={"max_risk_per_trade_pct": "100"}, headers=user.headers)
    assert put.status_code == 200 and put.json()["max_risk_per_trade_pct"] == "100"
