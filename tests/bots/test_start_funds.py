"""Starting a live DCA bot reads its credential's balance on the exchange (the in-process Binance
simulator, through real ccxt) and refuses, leaving the bot stopped, when the free quote cannot pay
for the strategy's largest need: a full deal (max_deal_funds) or one scheduled buy."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.bots.dispatch import BotCommand
from tests.bots.factories import BOTS, create_bot, dca_body, grid_body
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser
from tests.support.contexts import simulator_factory

# DCA_CONFIG: BO 100 + SO 50 x (2^3 - 1) / (2 - 1) = 450 USDT per deal.
MAX_DEAL_FUNDS = Decimal(450)
ACCOUNT = "/api/v3/account"  # Binance's balance read


@dataclass
class Dispatched:
    """The app's BotDispatcher: records the commands instead of sending Celery tasks."""

    commands: list[BotCommand] = field(default_factory=list)

    async def dispatch(self, command: BotCommand) -> None:
        self.commands.append(command)


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator() as simulator:
        yield simulator


@pytest.fixture
def dispatched(app: FastAPI, sim: BinanceSimulator) -> Dispatched:
    """The app with its connectors pointed at the simulator and its dispatcher recording."""
    app.state.connector_factory = simulator_factory(sim.url)
    app.state.bot_dispatcher = Dispatched()
    recorder: Dispatched = app.state.bot_dispatcher
    return recorder


@dataclass(frozen=True)
class Key:
    api_key: str
    credential_id: str


@pytest.fixture
async def key(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, dispatched: Dispatched
) -> Key:
    """A simulator account (no USDT until a test sets it), stored as the user's credential
    through the API, which verifies it with the simulator."""
    api_key, secret = "AK" + secrets.token_hex(31), "SK" + secrets.token_hex(31)
    sim.add_account(api_key, secret, {"BTC": "1"})
    body = {
        "exchange": "binance",
        "label": "main",
        "api_key": api_key,
        "api_secret": secret,
        "sandbox": False,
    }
    response = await client.post("/api/v1/credentials", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return Key(api_key, str(response.json()["id"]))


def live(body: dict[str, Any], key: Key) -> dict[str, Any]:
    return {**body, "mode": "live", "paper": None, "credential_id": key.credential_id}


async def start(client: httpx.AsyncClient, user: ApiUser, bot: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{BOTS}/{bot['id']}/start", headers=user.headers)


async def assert_still_stopped(
    client: httpx.AsyncClient, user: ApiUser, bot: dict[str, Any], dispatched: Dispatched
) -> None:
    read = await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert read.json()["status"] == "stopped"
    assert read.json()["started_at"] is None
    events = await client.get(f"{BOTS}/{bot['id']}/events", headers=user.headers)
    assert [event["kind"] for event in events.json()["items"]] == ["created"]
    assert dispatched.commands == []


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "insufficient_funds"
    [detail] = error["details"]
    assert detail["type"] == "insufficient_funds" and detail["loc"] == ["balance", "USDT"]
    return {**detail, "message": error["message"]}


async def test_enough_free_quote_starts_the_bot(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    key: Key,
    dispatched: Dispatched,
) -> None:
    sim.set_balances(key.api_key, {"USDT": MAX_DEAL_FUNDS})  # exactly a full deal is enough
    bot = await create_bot(client, user, live(dca_body(), key))
    assert bot["max_deal_funds"] == "450"

    response = await start(client, user, bot)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "starting"
    assert len(sim.request_log("GET", ACCOUNT)) == 2  # the credential's verification, the start
    assert [str(command.bot_id) for command in dispatched.commands] == [bot["id"]]


async def test_too_little_free_quote_is_refused_and_the_bot_stays_stopped(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    key: Key,
    dispatched: Dispatched,
) -> None:
    # 2000 USDT, of which 1600 are locked in open orders: only the free 400 count.
    account = sim.set_balances(key.api_key, {"USDT": "2000"})
    account.lock("USDT", Decimal(1600))
    bot = await create_bot(client, user, live(dca_body(), key))

    detail = refusal(await start(client, user, bot))

    assert detail["currency"] == "USDT"
    assert Decimal(detail["needed"]) == MAX_DEAL_FUNDS
    assert Decimal(detail["available"]) == 400
    assert detail["msg"] == "a full deal (max_deal_funds) needs more USDT"
    assert "450 USDT" in detail["message"]
    await assert_still_stopped(client, user, bot, dispatched)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({}, id="with deals"),
        pytest.param(
            {
                "deals": False,
                "base_order_volume": None,
                "safety_order_step_percentage": None,
                "take_profit": None,
            },
            id="schedule only",
        ),
    ],
)
async def test_a_schedule_adds_its_buy_to_the_needs(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    key: Key,
    dispatched: Dispatched,
    config: dict[str, Any],
) -> None:
    # A full deal (450) fits in 500 USDT; a 600 USDT scheduled buy does not.
    sim.set_balances(key.api_key, {"USDT": "500"})
    schedule = {"amount": "600", "every": "daily"}
    bot = await create_bot(client, user, live(dca_body(schedule=schedule, **config), key))

    detail = refusal(await start(client, user, bot))

    assert detail["msg"] == "one scheduled buy needs more USDT"
    assert Decimal(detail["needed"]) == 600 and Decimal(detail["available"]) == 500
    await assert_still_stopped(client, user, bot, dispatched)

    sim.set_balances(key.api_key, {"USDT": "600"})
    response = await start(client, user, bot)
    assert response.status_code == 202, response.text


async def test_an_unreachable_exchange_is_503_and_the_bot_stays_stopped(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    key: Key,
    dispatched: Dispatched,
) -> None:
    sim.set_balances(key.api_key, {"USDT": "10000"})
    bot = await create_bot(client, user, live(dca_body(), key))
    sim.inject_fault("http_error", ACCOUNT, times=None, status=503)

    response = await start(client, user, bot)

    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "exchange_unavailable"
    assert error["details"]["exchange"] == "binance"
    await assert_still_stopped(client, user, bot, dispatched)

    sim.clear_faults()
    response = await start(client, user, bot)
    assert response.status_code == 202, response.text


async def test_a_refused_key_is_the_verification_error(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    key: Key,
    dispatched: Dispatched,
) -> None:
    sim.set_balances(key.api_key, {"USDT": "10000"})
    bot = await create_bot(client, user, live(dca_body(), key))
    sim.set_permissions(key.api_key, ip_restrict=True, allowed_ips=["192.0.2.1"])  # -2015

    response = await start(client, user, bot)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "exchange_key_refused"
    await assert_still_stopped(client, user, bot, dispatched)


async def test_grid_and_paper_bots_start_without_reading_a_balance(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    key: Key,
    dispatched: Dispatched,
) -> None:
    # The account holds no USDT: neither a live grid bot nor a paper DCA bot looks at it.
    reads = len(sim.request_log("GET", ACCOUNT))
    for body in (live(grid_body(), key), dca_body()):
        bot = await create_bot(client, user, body)
        response = await start(client, user, bot)
        assert response.status_code == 202, response.text
    assert len(sim.request_log("GET", ACCOUNT)) == reads


async def test_swagger_shows_the_start_refusals(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/api/v1/bots/{bot_id}/start"]["post"]["responses"]
    assert {"202", "409", "422", "502", "503"} <= set(responses)
    assert "insufficient_funds" in responses["422"]["description"]
