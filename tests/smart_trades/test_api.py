"""/smart-trades: created and started at once, listed apart from the bots, read with their
orders, closed or cancelled; every bad input a clear 4xx in the one error shape."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from autogrid.core.db import Database
from autogrid.models import Bot
from autogrid.trading.strategies.refusals import Backoff
from autogrid.trading.strategies.smart_trade_state import Exit, SmartTradeState
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import BOTS, GRID_BODY, create_bot, set_status
from tests.helpers import ApiUser, assert_error_shape

TRADES = "/api/v1/smart-trades"
BODY: dict[str, Any] = {
    "symbol": "BTC/USDT",
    "mode": "paper",
    "paper": {"price_source": "live", "balances": {"USDT": "10000"}},
    "amount": {"value": "100", "unit": "quote"},
    "entry": {"type": "limit", "price": "90000"},
    "take_profits": [
        {"price": "95000", "share_percent": "50"},
        {"price": "99000", "share_percent": "50"},
    ],
    "stop_loss": {"price": "85000", "move_to_break_even_after_first_tp": True},
    "trailing_stop": {"percent": "3", "activation_price": "96000"},
    "timeout_seconds": 86400,
}


def body_with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    body.update(changes)
    return body


async def open_trade(client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any]) -> Any:
    response = await client.post(TRADES, json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_smart_trade_is_created_started_and_listed_apart_from_the_bots(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    trade = await open_trade(client, user, BODY)
    assert (trade["status"], trade["phase"]) == ("starting", "pending")
    assert trade["config"]["take_profits"] == BODY["take_profits"]
    assert trade["config"]["stop_loss"]["move_to_break_even_after_first_tp"] is True
    assert trade["exit"] is None and trade["realized_pnl"] == "0"
    async with db.session_scope() as session:
        bot = await session.get(Bot, uuid.UUID(trade["id"]))
        assert bot is not None and bot.type == "smart_trade" and bot.user_id == user.id

    listed = (await client.get(TRADES, headers=user.headers)).json()
    assert [item["id"] for item in listed["items"]] == [trade["id"]]
    detail = (await client.get(f"{TRADES}/{trade['id']}", headers=user.headers)).json()
    assert detail["orders"] == [] and detail["id"] == trade["id"]
    # Not among the bots unless asked for by type; its bot view works.
    await store_replay_candles(db)  # what the grid body replays
    grid = await create_bot(client, user, GRID_BODY)
    bots = (await client.get(BOTS, headers=user.headers)).json()
    assert [item["id"] for item in bots["items"]] == [grid["id"]]
    typed = (await client.get(f"{BOTS}?type=smart_trade", headers=user.headers)).json()
    assert [item["id"] for item in typed["items"]] == [trade["id"]]
    bot_view = await client.get(f"{BOTS}/{trade['id']}", headers=user.headers)
    assert bot_view.status_code == 200 and bot_view.json()["type"] == "smart_trade"
    # A grid bot is no smart trade.
    assert_error_shape(await client.get(f"{TRADES}/{grid['id']}", headers=user.headers), 404)


async def test_close_sells_at_market_and_cancel_only_cancels(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    first = await open_trade(client, user, BODY)
    second = await open_trade(client, user, BODY)
    closed = await client.post(f"{TRADES}/{first['id']}/close", headers=user.headers)
    cancelled = await client.post(f"{TRADES}/{second['id']}/cancel", headers=user.headers)
    assert closed.status_code == cancelled.status_code == 202
    assert closed.json()["phase"] == cancelled.json()["phase"] == "closing"
    async with db.session_scope() as session:
        close_bot = await session.get(Bot, uuid.UUID(first["id"]))
        cancel_bot = await session.get(Bot, uuid.UUID(second["id"]))
        assert close_bot is not None and cancel_bot is not None
        assert close_bot.state["stop_request"]["sell_base"] is True
        assert cancel_bot.state["stop_request"]["sell_base"] is False


async def stored_and_read(
    client: httpx.AsyncClient, user: ApiUser, db: Database, trade_id: str, state: SmartTradeState
) -> list[dict[str, Any]]:
    """The trade as its reads show it (the detail, then the list's) once a worker stored
    ``state`` as its strategy's."""
    async with db.session_scope() as session:
        bot = await session.get(Bot, uuid.UUID(trade_id))
        assert bot is not None
        bot.state = {**bot.state, "strategy": state.to_dict()}
    detail = (await client.get(f"{TRADES}/{trade_id}", headers=user.headers)).json()
    listed = (await client.get(TRADES, headers=user.headers)).json()["items"][0]
    return [detail, listed]


async def test_a_refused_close_shows_when_it_is_placed_again(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """What a worker stores while a refused sale backs off (``refusals.Backoff``) reaches the
    trade's owner: how many refusals, and when the sale goes again."""
    trade = await open_trade(client, user, BODY)
    assert (trade["close_refusals"], trade["close_retry_at"]) == (0, None)
    retry_at = datetime(2026, 12, 7, 12, 4, tzinfo=UTC)
    backing_off = SmartTradeState(exit=Exit.STOP_LOSS, refusals=3, retry_at=retry_at)
    for shown in await stored_and_read(client, user, db, trade["id"], backing_off):
        assert shown["close_refusals"] == 3
        assert datetime.fromisoformat(shown["close_retry_at"]) == retry_at
        assert shown["phase"] == "closing"


async def test_take_profits_backing_off_show_when_they_are_placed_again(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """Take-profits the exchange keeps rejecting (``targets_backoff``): the owner sees how many
    times in a row, and when they go again, not a trade that merely has none."""
    trade = await open_trade(client, user, BODY)
    assert (trade["take_profit_refusals"], trade["take_profit_retry_at"]) == (0, None)
    retry_at = datetime(2026, 12, 7, 12, 2, tzinfo=UTC)
    waiting = SmartTradeState(started_at=retry_at, targets_backoff=Backoff(2, retry_at))
    for shown in await stored_and_read(client, user, db, trade["id"], waiting):
        assert shown["take_profit_refusals"] == 2
        assert datetime.fromisoformat(shown["take_profit_retry_at"]) == retry_at


async def test_another_users_trade_is_not_found(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    trade = await open_trade(client, user, BODY)
    for method, path in (
        ("GET", f"{TRADES}/{trade['id']}"),
        ("POST", f"{TRADES}/{trade['id']}/close"),
        ("POST", f"{TRADES}/{trade['id']}/cancel"),
    ):
        response = await client.request(method, path, headers=other_user.headers)
        assert_error_shape(response, 404)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "take_profits": [
                    {"price": "95000", "share_percent": "60"},
                    {"price": "99000", "share_percent": "50"},
                ]
            },
            "more than 100",
        ),
        ({"stop_loss": {"price": "91000"}}, "below the entry"),
        ({"take_profits": [{"price": "89000"}]}, "above the entry"),
        ({"entry": {"type": "limit"}}, "positive price"),
        ({"entry": {"type": "zone", "zone_low": "92000", "zone_high": "91000"}}, "zone_low"),
        ({"stop_loss": {"price": "85000", "percent": "5"}}, "not both"),
        ({"amount": {"value": "-5", "unit": "quote"}}, "greater than 0"),
        ({"amount": {"value": "1", "unit": "quote"}}, "below the market minimum"),
        ({"entry": {"type": "market", "price": "-1"}}, "greater than 0"),
        ({"trailing_stop": {"percent": "150"}}, "less than 100"),
        ({"surprise": True}, "Extra inputs"),
        ({"mode": "live"}, "credential_id"),
    ],
)
async def test_bad_bodies_are_refused_with_a_clear_422(
    client: httpx.AsyncClient, user: ApiUser, changes: dict[str, Any], message: str
) -> None:
    response = await client.post(TRADES, json=body_with(**changes), headers=user.headers)
    assert_error_shape(response, 422)
    assert message in response.text, response.text


async def test_a_smart_trade_is_no_bots_body(client: httpx.AsyncClient, user: ApiUser) -> None:
    body = {**GRID_BODY, "type": "smart_trade", "config": {"amount": {"value": "100"}}}
    response = await client.post(BOTS, json=body, headers=user.headers)
    assert_error_shape(response, 422)


async def test_a_trade_that_is_over_cannot_be_closed_again(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    trade = await open_trade(client, user, BODY)
    await set_status(db, trade["id"], "stopped", stop_initiator="bot")
    for verb in ("close", "cancel"):
        response = await client.post(f"{TRADES}/{trade['id']}/{verb}", headers=user.headers)
        assert_error_shape(response, 409)
    shown = (await client.get(f"{TRADES}/{trade['id']}", headers=user.headers)).json()
    assert shown["phase"] == "closed"
