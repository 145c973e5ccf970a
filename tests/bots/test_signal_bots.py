"""Creating signal bots: the defaults, a replay refused (signals arrive in real time), sizing the
market refuses, and the bound on each field, each a 422 in the one error shape."""

from __future__ import annotations

from typing import Any

import httpx

from tests.bots.factories import BOTS, grid_body
from tests.helpers import ApiUser, assert_error_shape

LIVE_PRICES = {"price_source": "live", "balances": {"USDT": "10000"}}


def signal_body(**changes: Any) -> dict[str, Any]:
    body = grid_body(name="signals", type="signal", paper=LIVE_PRICES)
    body.pop("config")
    body.update(changes)
    return body


async def post(client: httpx.AsyncClient, user: ApiUser, body: Any) -> httpx.Response:
    return await client.post(BOTS, json=body, headers=user.headers)


async def test_a_signal_bot_is_created_with_its_defaults_and_reads_back(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    answer = await post(client, user, signal_body())
    assert answer.status_code == 201, answer.text
    bot = answer.json()
    assert (bot["type"], bot["status"], bot["investment"]) == ("signal", "stopped", None)
    assert bot["config"] == {"default_quote": None, "default_pct": "10", "zone_orders": 3}
    listed = await client.get(BOTS, params={"type": "signal"}, headers=user.headers)
    assert [item["id"] for item in listed.json()["items"]] == [bot["id"]]


async def test_a_signal_bot_refuses_a_replay(client: httpx.AsyncClient, user: ApiUser) -> None:
    answer = await post(client, user, grid_body(name="signals", type="signal", config={}))
    assert_error_shape(answer, 422, "invalid")
    assert "use live prices" in answer.json()["error"]["message"]
    assert answer.json()["error"]["details"][0]["loc"] == ["body", "paper", "price_source"]


async def test_signal_bot_sizing_is_checked(client: httpx.AsyncClient, user: ApiUser) -> None:
    for config, words in (
        ({"default_quote": "0.5"}, "below the market minimum order cost"),
        ({"default_pct": "0"}, "greater than 0"),
        ({"default_pct": "101"}, "less than or equal to 100"),
        ({"zone_orders": 21}, "less than or equal to 20"),
        ({"size": 1}, "Extra inputs are not permitted"),
        ({"default_quote": "20000"}, "needs 20000 USDT"),
    ):
        answer = await post(client, user, signal_body(config=config))
        assert_error_shape(answer, 422)
        assert words in answer.text, (config, answer.text)
