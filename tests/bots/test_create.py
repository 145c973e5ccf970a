"""Creating bots: the public body, per-type validation, market rules, funds, plans, credentials."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autogrid.core.db import Database
from autogrid.exchanges.errors import RateLimited
from autogrid.exchanges.types import MarketRules
from autogrid.models import Bot, Event, Plan, User
from tests.bots.conftest import store_series
from tests.bots.factories import (
    BOTS,
    GRID_BODY,
    add_credential,
    create_bot,
    dca_body,
    grid_body,
    indicator_body,
    with_config,
)
from tests.helpers import ApiUser, assert_error_shape


def live_paper(body: dict[str, Any]) -> dict[str, Any]:
    """Paper trading at live prices (a schedule runs on the wall clock: no replay)."""
    return {**body, "paper": {"price_source": "live", "balances": {"USDT": "10000"}}}


async def post(client: httpx.AsyncClient, user: ApiUser, body: Any) -> httpx.Response:
    return await client.post(BOTS, json=body, headers=user.headers)


async def test_the_documented_grid_body_creates_a_stopped_bot_and_reads_back_the_same(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    created = await create_bot(client, user, GRID_BODY)

    assert created["status"] == "stopped"
    for name in ("name", "type", "exchange", "symbol", "mode", "paper"):
        assert created[name] == GRID_BODY[name], name
    assert {k: created["config"][k] for k in GRID_BODY["config"]} == GRID_BODY["config"]
    assert created["breaker_state"] == {"tripped": False, "reason": None, "tripped_at": None}
    assert created["investment"] == "5000"
    assert created["tick_interval_seconds"] == 5
    assert created["started_at"] is None and created["stopped_at"] is None
    assert created["error"] is None
    fetched = await client.get(f"{BOTS}/{created['id']}", headers=user.headers)
    assert fetched.json() == created
    async with db.session_scope() as session:
        bot = await session.get(Bot, uuid.UUID(created["id"]))
        assert bot is not None and bot.user_id == user.id and bot.investment == Decimal(5000)
        events = (await session.scalars(select(Event))).all()
        assert [event.type for event in events] == ["created"]


async def test_numbers_are_accepted_and_decimals_always_come_back_as_plain_strings(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    body = with_config(grid_body(), lower_price=100000, upper_price="1.25E+5", investment=4999.5)
    body["paper"]["balances"] = {"usdt": "10000.00"}

    bot = await create_bot(client, user, body)

    assert bot["config"]["lower_price"] == "100000"
    assert bot["config"]["upper_price"] == "125000"
    assert bot["config"]["investment"] == "4999.5"
    assert bot["paper"]["balances"] == {"USDT": "10000"}


async def test_dca_reports_max_deal_funds(client: httpx.AsyncClient, user: ApiUser) -> None:
    # BO 100 + SO 50 x (2^3 - 1) / (2 - 1) = 450
    bot = await create_bot(client, user, dca_body())
    assert bot["max_deal_funds"] == "450"
    assert bot["investment"] == "450"
    assert bot["config"]["take_profit_type"] == "total"
    # Flat volume: BO + N x SO
    flat = await create_bot(client, user, dca_body(martingale_volume_coefficient="1"))
    assert flat["max_deal_funds"] == "250"


async def test_a_dca_schedule_is_validated_and_kept(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    schedule = {"amount": "25", "every": "daily", "timezone": "Europe/Paris", "catch_up": "once"}
    bot = await create_bot(client, user, live_paper(dca_body(schedule=schedule)))
    assert bot["config"]["schedule"] == {**schedule, "cron": None}

    weekly = {"amount": "25", "cron": "0  9 * * MON"}
    bot = await create_bot(client, user, live_paper(dca_body(schedule=weekly)))
    assert bot["config"]["schedule"]["cron"] == "0 9 * * MON"
    assert bot["config"]["schedule"]["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("schedule", "field", "words"),
    [
        ({"amount": "25", "every": "daily", "timezone": "Mars/Olympus"}, "timezone", "time zone"),
        ({"amount": "25", "every": "daily", "timezone": "../../etc/passwd"}, "timezone", "zone"),
        ({"amount": "25", "cron": "61 * * * *"}, "cron", "five-field"),
        ({"amount": "25", "cron": "0 0 * * * *"}, "cron", "five-field"),
        ({"amount": "25", "cron": "*/5 * * * *"}, "cron", "once an hour"),
        ({"amount": "25", "cron": "0 0 31 2 *"}, "cron", "never fires"),
        ({"amount": "25", "every": "daily", "cron": "0 9 * * *"}, None, "exactly one"),
        ({"amount": "25"}, None, "exactly one"),
        ({"amount": "25", "every": "monthly"}, "every", ""),
        ({"amount": "-1", "every": "daily"}, "amount", ""),
    ],
)
async def test_bad_schedules_are_422_naming_the_problem(
    client: httpx.AsyncClient,
    user: ApiUser,
    schedule: dict[str, Any],
    field: str | None,
    words: str,
) -> None:
    response = await post(client, user, dca_body(schedule=schedule))
    assert_error_shape(response, 422, "validation_error")
    error = response.json()["error"]
    assert words in error["message"]
    if field is not None:
        assert error["details"][0]["loc"][-1] == field


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"strategy": "rsi"}, {"period": 14, "buy_below": 30.0, "sell_above": 70.0}),
        ({"strategy": "macd"}, {"fast": 12, "slow": 26, "signal": 9}),
        ({"strategy": "bollinger", "exit_band": "middle"}, {"period": 20, "stddev": 2.0}),
        ({"strategy": "ma_cross", "kind": "sma"}, {"fast": 20, "slow": 50, "kind": "sma"}),
    ],
)
async def test_each_indicator_strategy_gets_its_defaults(
    client: httpx.AsyncClient, user: ApiUser, config: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = grid_body(type="indicator", config={**config, "timeframe": "15m"})

    bot = await create_bot(client, user, body)

    assert {k: bot["config"][k] for k in expected} == expected
    # No order_quote: each entry uses order_pct (default 100) of the free quote.
    assert bot["config"]["order_pct"] == "100"
    assert bot["config"]["order_quote"] is None
    assert bot["investment"] == "10000"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # The pure strategies' own checks (StrategyConfigError), their message verbatim.
        (
            with_config(grid_body(), lower_price="100000", upper_price="100100", grid_count=500),
            "grid step is",
        ),
        (with_config(grid_body(), stop_loss_price="110000"), "stop_loss_price must be below"),
        (dca_body(max_safety_orders=70), "100% or more below"),
        (dca_body(active_safety_orders_count=5), "active_safety_orders_count"),
        (dca_body(trailing_take_profit=True, trailing_deviation="3"), "trailing_deviation"),
        (indicator_body(strategy="macd", fast=30, slow=26), "fast < slow"),
        (indicator_body(buy_below=80), "buy_below < sell_above"),
        # The market's minimum order cost (10 USDT by default).
        (dca_body(base_order_volume="5"), "minimum order cost"),
        (with_config(grid_body(), investment="100", grid_count=20), "market minimum"),
    ],
)
async def test_the_strategy_validation_is_422_with_its_message(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any], words: str
) -> None:
    response = await post(client, user, body)
    assert_error_shape(response, 422)
    assert words in response.json()["error"]["message"]


async def test_the_market_rules_provider_on_app_state_is_used(
    app: FastAPI, client: httpx.AsyncClient, user: ApiUser
) -> None:
    seen: list[tuple[str, str]] = []

    async def strict_market(exchange: str, symbol: str) -> MarketRules:
        seen.append((exchange, symbol))
        return MarketRules(
            symbol=symbol,
            base="BTC",
            quote="USDT",
            amount_step=Decimal("0.001"),
            price_tick=Decimal("0.01"),
            min_amount=Decimal("0.01"),
        )

    app.state.market_rules_provider = strict_market
    response = await post(client, user, grid_body())

    # 250 USDT per grid buys 0.002 BTC at the top: below this market's 0.01 minimum.
    assert_error_shape(response, 422)
    assert "below the market minimum 0.01" in response.json()["error"]["message"]
    assert seen == [("binance", "BTC/USDT")]


async def test_an_unknown_market_is_422_and_an_exchange_outage_is_503(
    app: FastAPI, client: httpx.AsyncClient, user: ApiUser
) -> None:
    from autogrid.bots.markets import UnknownMarket

    async def no_such_market(exchange: str, symbol: str) -> MarketRules:
        raise UnknownMarket(symbol)

    app.state.market_rules_provider = no_such_market
    response = await post(client, user, grid_body())
    assert_error_shape(response, 422)
    assert response.json()["error"]["details"][0]["loc"] == ["body", "symbol"]

    async def busy(exchange: str, symbol: str) -> MarketRules:
        raise RateLimited("slow down")

    app.state.market_rules_provider = busy
    assert_error_shape(await post(client, user, grid_body()), 503, "unavailable")


async def test_an_unknown_exchange_is_422(client: httpx.AsyncClient, user: ApiUser) -> None:
    response = await post(client, user, grid_body(exchange="nosuchexchange"))
    assert_error_shape(response, 422)
    assert "unknown exchange" in response.json()["error"]["message"]


async def test_exchange_aliases_resolve_to_the_catalog_id(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    await store_series(db, exchange="gate")  # the replay's candles are stored under the id
    bot = await create_bot(client, user, grid_body(exchange="GateIO"))
    assert bot["exchange"] == "gate"


@pytest.mark.parametrize(
    ("body", "needed", "available"),
    [
        (with_config(grid_body(), investment="20000"), "20000", "10000"),
        (with_config(grid_body(), investment=None, quote_per_grid="600"), "12000", "10000"),
        (dca_body(base_order_volume="9700"), "10050", "10000"),
        (indicator_body(order_quote="10000.01"), "10000.01", "10000"),
    ],
)
async def test_what_the_strategy_commits_must_fit_the_paper_balances(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any], needed: str, available: str
) -> None:
    response = await post(client, user, body)
    assert_error_shape(response, 422)
    error = response.json()["error"]
    assert f"needs {needed} USDT" in error["message"]
    assert f"hold {available} USDT" in error["message"]
    assert error["details"][0]["needed"] == needed
    assert error["details"][0]["available"] == available


@pytest.mark.parametrize(
    ("balances", "words"),
    [
        ({"BTC": "1"}, "no USDT"),
        ({"USDT": "0"}, "no USDT"),
        ({"USDT": "10000", "ETH": "1"}, "not ETH"),
        ({"USDT": "-5"}, "greater than or equal to 0"),
        ({}, "at least 1"),
    ],
)
async def test_paper_balances_are_checked(
    client: httpx.AsyncClient, user: ApiUser, balances: dict[str, str], words: str
) -> None:
    body = grid_body()
    body["paper"]["balances"] = balances
    response = await post(client, user, body)
    assert_error_shape(response, 422)
    assert words in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("paper", "words"),
    [
        ({"price_source": "replay", "balances": {"USDT": "1"}}, "needs a start time"),
        (
            {"price_source": "replay", "start": "2999-01-01T00:00:00Z", "balances": {"USDT": "1"}},
            "in the past",
        ),
        ({"price_source": "replay", "start": "2025-05-20T00:00:00", "balances": {}}, "timezone"),
        (
            {"price_source": "live", "speed": 10, "balances": {"USDT": "10000"}},
            "only apply to price_source replay",
        ),
        ({"price_source": "historic", "balances": {"USDT": "10000"}}, "replay"),
        (
            {
                "price_source": "replay",
                "start": "2025-05-20T00:00:00Z",
                "speed": 0,
                "balances": {"USDT": "10000"},
            },
            "greater than or equal to 1",
        ),
        (
            {
                "price_source": "replay",
                "timeframe": "60m",
                "start": "2025-05-20T00:00:00Z",
                "balances": {"USDT": "10000"},
            },
            "1h",
        ),
    ],
)
async def test_paper_settings_are_checked(
    client: httpx.AsyncClient, user: ApiUser, paper: dict[str, Any], words: str
) -> None:
    response = await post(client, user, grid_body(paper=paper))
    assert_error_shape(response, 422)
    assert words in response.json()["error"]["message"]


async def test_paper_on_live_prices_needs_no_start(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    paper = {"price_source": "live", "balances": {"USDT": "10000", "BTC": "0.1"}}
    bot = await create_bot(client, user, grid_body(paper=paper))
    assert bot["paper"] == {**paper, "timeframe": "1m", "start": None, "speed": None}


async def test_a_replay_speed_defaults_to_real_time(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    body = grid_body()
    del body["paper"]["speed"]
    bot = await create_bot(client, user, body)
    assert bot["paper"]["speed"] == 1


async def test_an_indicator_timeframe_must_be_built_from_the_replayed_candles(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    await store_series(db, timeframe="1h")
    body = indicator_body(timeframe="30m")
    body["paper"]["timeframe"] = "1h"
    response = await post(client, user, body)
    assert_error_shape(response, 422)
    assert response.json()["error"]["details"][0]["loc"] == ["body", "config", "timeframe"]

    body = indicator_body(timeframe="4h")
    body["paper"]["timeframe"] = "1h"
    await create_bot(client, user, body)


async def test_the_breaker_may_only_be_tightened(client: httpx.AsyncClient, user: ApiUser) -> None:
    tight = {"max_orders_per_minute": 20, "max_loss_pct_per_hour": "2.5",
             "max_price_deviation_pct": 3, "max_consecutive_errors": 2,
             "cancel_open_orders_on_trip": True}  # fmt: skip
    bot = await create_bot(client, user, grid_body(breaker=tight))
    assert bot["breaker"] == {**tight, "max_price_deviation_pct": "3"}

    for name, loose in [
        ("max_orders_per_minute", 51),
        ("max_loss_pct_per_hour", "5.01"),
        ("max_price_deviation_pct", 20),
        ("max_consecutive_errors", 6),
    ]:
        response = await post(client, user, grid_body(breaker={name: loose}))
        assert_error_shape(response, 422)
        error = response.json()["error"]
        assert "may only be tightened" in error["message"], name
        assert error["details"][0]["loc"] == ["body", "breaker", name]
    response = await post(client, user, grid_body(breaker={"max_orders_per_minute": 0}))
    assert_error_shape(response, 422)


@pytest.mark.parametrize(("tick", "status"), [(0, 422), (1, 201), (3600, 201), (3601, 422)])
async def test_tick_interval_bounds(
    client: httpx.AsyncClient, user: ApiUser, tick: int, status: int
) -> None:
    response = await post(client, user, grid_body(tick_interval_seconds=tick))
    assert response.status_code == status, response.text


async def test_the_plan_limit_is_403_naming_plan_and_limit(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    for _ in range(3):  # the free plan's limit
        await create_bot(client, user)

    response = await post(client, user, grid_body())

    assert_error_shape(response, 403, "plan_limit_reached")
    error = response.json()["error"]
    assert "free plan allows 3 bots" in error["message"]
    assert error["details"] == {"plan": "free", "limit": 3, "bots": 3}
    async with db.session_scope() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.plan = Plan.STARTER
    await create_bot(client, user)


async def test_a_live_bot_needs_one_of_your_credentials_for_that_exchange(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, db: Database
) -> None:
    mine = await add_credential(db, user, "binance")
    kraken = await add_credential(db, user, "kraken")
    theirs = await add_credential(db, other_user, "binance")

    def live(credential_id: object) -> dict[str, Any]:
        body = grid_body(mode="live", credential_id=str(credential_id))
        del body["paper"]
        return body

    bot = await create_bot(client, user, live(mine))
    assert bot["mode"] == "live" and bot["credential_id"] == str(mine)
    assert bot["paper"] is None

    wrong_exchange = await post(client, user, live(kraken))
    assert_error_shape(wrong_exchange, 422)
    assert "is for kraken, not binance" in wrong_exchange.json()["error"]["message"]

    # Someone else's credential reads exactly like one that does not exist.
    someone_elses = await post(client, user, live(theirs))
    missing = await post(client, user, live(uuid.uuid4()))
    assert_error_shape(someone_elses, 422)
    assert someone_elses.json()["error"]["message"] == missing.json()["error"]["message"]
    assert someone_elses.json()["error"]["details"] == missing.json()["error"]["details"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"mode": "live"}, "needs a credential_id"),
        ({"credential_id": str(uuid.uuid4())}, "only applies to live bots"),
        ({"paper": None}, "needs paper settings"),
    ],
)
async def test_mode_paper_and_credential_must_agree(
    client: httpx.AsyncClient, user: ApiUser, changes: dict[str, Any], words: str
) -> None:
    response = await post(client, user, grid_body(**changes))
    assert_error_shape(response, 422, "validation_error")
    assert words in response.json()["error"]["message"]


async def test_the_documented_example_creates_a_bot(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    schema = (await client.get("/openapi.json")).json()
    (example,) = schema["components"]["schemas"]["GridBotCreate"]["examples"]
    response = await client.post("/api/v1/bots", json=example, headers=user.headers)
    assert response.status_code == 201, response.text
