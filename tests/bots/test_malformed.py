"""Every malformed bot body is a 4xx in the one error shape, never a 500, and creates nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.bots.factories import BOTS, dca_body, grid_body, indicator_body, with_config
from tests.helpers import ApiUser, assert_error_shape


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


MALFORMED: list[tuple[str, Any, str | None]] = [
    # wrong types
    ("grid_count as text", with_config(grid_body(), grid_count="twenty"), "grid_count"),
    ("grid_count as bool", with_config(grid_body(), grid_count=True), "grid_count"),
    ("grid_count fractional", with_config(grid_body(), grid_count=2.5), "grid_count"),
    ("price as bool", with_config(grid_body(), lower_price=True), "lower_price"),
    ("price as object", with_config(grid_body(), lower_price={"v": 1}), "lower_price"),
    ("price not a number", with_config(grid_body(), lower_price="12abc"), "lower_price"),
    ("price NaN", with_config(grid_body(), lower_price="NaN"), "lower_price"),
    ("price Infinity", with_config(grid_body(), upper_price="Infinity"), "upper_price"),
    ("price too large", with_config(grid_body(), upper_price="1e30"), "upper_price"),
    ("too many decimals", with_config(grid_body(), investment="1e-19"), "investment"),
    ("config as a list", grid_body(config=[1, 2]), "config"),
    ("paper as text", grid_body(paper="yes"), "paper"),
    ("name as number", grid_body(name=5), "name"),
    ("tick as text", grid_body(tick_interval_seconds="often"), "tick_interval_seconds"),
    # unknown fields: nothing server-owned can be set
    ("status", grid_body(status="running"), "status"),
    ("user_id", grid_body(user_id="00000000-0000-0000-0000-000000000001"), "user_id"),
    ("state", grid_body(state={"x": 1}), "state"),
    ("breaker trip", grid_body(breaker={"tripped_at": "2025-01-01T00:00:00Z"}), "tripped_at"),
    ("unknown config field", with_config(grid_body(), leverage=10), "leverage"),
    ("unknown paper field", grid_body(paper={**grid_body()["paper"], "fees": 0}), "fees"),
    ("dca field on a grid", with_config(grid_body(), take_profit="2"), "take_profit"),
    # missing fields
    ("no upper_price", without(grid_body(), "config", "upper_price"), "upper_price"),
    ("no grid_count", without(grid_body(), "config", "grid_count"), "grid_count"),
    ("no config", without(grid_body(), "config"), "config"),
    ("no name", without(grid_body(), "name"), "name"),
    ("no symbol", without(grid_body(), "symbol"), "symbol"),
    ("no type", without(grid_body(), "type"), None),
    ("no dca take_profit", without(dca_body(), "config", "take_profit"), "take_profit"),
    ("no indicator strategy", without(indicator_body(), "config", "strategy"), None),
    # bad enum values
    ("type", grid_body(type="martingale"), None),
    ("mode", grid_body(mode="demo"), "mode"),
    ("spacing", with_config(grid_body(), spacing="logarithmic"), "spacing"),
    ("direction", with_config(grid_body(), direction="short"), "direction"),
    ("take_profit_type", dca_body(take_profit_type="average"), "take_profit_type"),
    ("indicator strategy", indicator_body(strategy="stochastic"), None),
    ("ma kind", indicator_body(strategy="ma_cross", kind="wma"), "kind"),
    ("start_condition", dca_body(start_condition="rsi"), "start_condition"),
    ("timeframe", indicator_body(timeframe="7x"), "timeframe"),
    # out of range and inconsistent values
    ("negative price", with_config(grid_body(), lower_price="-100"), "lower_price"),
    ("zero investment", with_config(grid_body(), investment="0"), "investment"),
    ("upper below lower", with_config(grid_body(), upper_price="90000"), None),
    ("upper equals lower", with_config(grid_body(), upper_price="100000"), None),
    ("one grid", with_config(grid_body(), grid_count=1), "grid_count"),
    ("too many grids", with_config(grid_body(), grid_count=501), "grid_count"),
    ("investment and quote_per_grid", with_config(grid_body(), quote_per_grid="10"), None),
    ("neither investment", with_config(grid_body(), investment=None), None),
    ("trailing limit alone", with_config(grid_body(), trailing_up_limit="130000"), None),
    ("martingale too big", dca_body(martingale_volume_coefficient="10.5"), "martingale"),
    ("martingale too small", dca_body(martingale_step_coefficient="0.05"), "martingale"),
    ("too many safety orders", dca_body(max_safety_orders=201), "max_safety_orders"),
    ("negative cooldown", dca_body(cooldown_seconds=-1), "cooldown_seconds"),
    ("step of 100%", dca_body(safety_order_step_percentage="100"), "safety_order_step"),
    ("order_pct over 100", indicator_body(order_quote=None, order_pct="101"), "order_pct"),
    ("order_quote and order_pct", indicator_body(order_pct="50"), None),
    ("rsi threshold 100", indicator_body(sell_above=100), "sell_above"),
    ("rsi period 0", indicator_body(period=0), "period"),
    ("symbol without slash", grid_body(symbol="BTCUSDT"), "symbol"),
    ("symbol with junk", grid_body(symbol="BTC/USDT; drop table"), "symbol"),
    ("empty name", grid_body(name="   "), "name"),
    ("name too long", grid_body(name="x" * 101), "name"),
    ("name with control characters", grid_body(name="bot\x00name"), "name"),
    ("exchange with dots", grid_body(exchange="../binance"), "exchange"),
    ("credential not a uuid", grid_body(mode="live", paper=None, credential_id="key"), None),
    ("breaker limit as text", grid_body(breaker={"max_orders_per_minute": "many"}), "breaker"),
    ("schedule as text", dca_body(schedule="daily"), "schedule"),
    # not an object at all
    ("a list", [grid_body()], None),
    ("a string", "grid", None),
    ("null", None, None),
]


async def test_malformed_bodies_are_422_in_the_standard_shape(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    # One test over every case (a user registration each would cost a minute); failures are
    # collected so one run names them all.
    failures: list[str] = []
    for case, body, field in MALFORMED:
        response = await client.post(BOTS, json=body, headers=user.headers)
        try:
            assert_error_shape(response, 422)
            error = response.json()["error"]
            assert error["request_id"]
            if field is not None:
                locations = " ".join(".".join(map(str, d["loc"])) for d in error["details"])
                assert field in locations or field in error["message"], error
        except AssertionError as failure:
            failures.append(f"{case}: {failure}")
    assert not failures, "\n".join(failures)
    listing = await client.get(BOTS, headers=user.headers)
    assert listing.json()["total"] == 0, "a malformed body created a bot"


async def test_a_body_that_is_not_json_is_422(client: httpx.AsyncClient, user: ApiUser) -> None:
    headers = {**user.headers, "Content-Type": "application/json"}
    response = await client.post(BOTS, content=b"{not json", headers=headers)
    assert_error_shape(response, 422)


@pytest.mark.parametrize(
    "query",
    [
        "status=sleeping",
        "type=martingale",
        "limit=0",
        "limit=1000",
        "offset=-1",
        "&".join(["status=running"] * 21),
    ],
)
async def test_bad_list_filters_are_422(
    client: httpx.AsyncClient, user: ApiUser, query: str
) -> None:
    assert_error_shape(await client.get(f"{BOTS}?{query}", headers=user.headers), 422)


async def test_a_malformed_bot_id_is_422_not_500(client: httpx.AsyncClient, user: ApiUser) -> None:
    for method, path in [
        ("GET", f"{BOTS}/not-a-uuid"),
        ("PATCH", f"{BOTS}/1"),
        ("POST", f"{BOTS}/x/start"),
        ("GET", "/api/v1/orders/x"),
    ]:
        response = await client.request(method, path, json={}, headers=user.headers)
        assert_error_shape(response, 422)


async def test_event_kind_filters_are_bounded(client: httpx.AsyncClient, user: ApiUser) -> None:
    bot = (await client.post(BOTS, json=grid_body(), headers=user.headers)).json()
    path = f"{BOTS}/{bot['id']}/events"
    assert_error_shape(await client.get(f"{path}?kind={'x' * 41}", headers=user.headers), 422)
    many = "&".join(f"kind=k{i}" for i in range(21))
    assert_error_shape(await client.get(f"{path}?{many}", headers=user.headers), 422)
