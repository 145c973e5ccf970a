"""A DCA bot's start condition through the bot API: accepted and shown as given, checked field by
field (422 naming the field), and its timeframe checked against a replay's candles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from autogrid.bots.configs import DcaParams, to_dca_config
from autogrid.bots.indicator_params import RsiStart, candle_timeframe
from autogrid.core.db import Database
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.trading.strategies.dca_start import StartCondition
from autogrid.trading.strategies.signals import RsiRule
from tests.bots.conftest import store_series
from tests.bots.factories import BOTS, DCA_CONFIG, create_bot, dca_body
from tests.helpers import ApiUser, assert_error_shape

RSI_START = {"strategy": "rsi", "period": 14, "buy_below": 30, "timeframe": "15m"}


async def post(client: httpx.AsyncClient, user: ApiUser, body: Any) -> httpx.Response:
    return await client.post(BOTS, json=body, headers=user.headers)


async def test_an_rsi_start_condition_is_accepted_and_read_back_as_given(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    bot = await create_bot(client, user, dca_body(start_condition=RSI_START))

    assert bot["config"]["start_condition"] == {**RSI_START, "buy_below": 30.0}
    fetched = await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert fetched.json()["config"]["start_condition"] == bot["config"]["start_condition"]
    assert bot["max_deal_funds"] == "450"  # the deals themselves are unchanged


async def test_immediate_stays_the_default(client: httpx.AsyncClient, user: ApiUser) -> None:
    assert (await create_bot(client, user, dca_body()))["config"]["start_condition"] == "immediate"
    explicit = await create_bot(client, user, dca_body(start_condition="immediate"))
    assert explicit["config"]["start_condition"] == "immediate"


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ({"strategy": "rsi"}, {"period": 14, "buy_below": 30.0, "timeframe": "1h"}),
        ({"strategy": "macd"}, {"fast": 12, "slow": 26, "signal": 9}),
        ({"strategy": "bollinger"}, {"period": 20, "stddev": 2.0}),
        ({"strategy": "ma_cross", "kind": "sma"}, {"fast": 20, "slow": 50, "kind": "sma"}),
    ],
)
async def test_each_indicator_rule_gets_its_defaults(
    client: httpx.AsyncClient, user: ApiUser, start: dict[str, Any], expected: dict[str, Any]
) -> None:
    bot = await create_bot(client, user, dca_body(start_condition=start))

    shown = bot["config"]["start_condition"]
    assert {k: shown[k] for k in expected} == expected
    assert shown["strategy"] == start["strategy"]


@pytest.mark.parametrize(
    ("start", "where", "words"),
    [
        ("now", ["immediate"], "Input should be 'immediate'"),
        ({"period": 14}, [], "'immediate' or an object whose strategy is one of rsi, macd"),
        ({"strategy": "stochastic"}, [], "strategy is one of rsi, macd, bollinger, ma_cross"),
        (42, [], "start_condition must be 'immediate'"),
        ({"strategy": "rsi", "period": 1}, ["rsi"], "period must be between 2 and 500"),
        ({"strategy": "rsi", "buy_below": 100}, ["rsi", "buy_below"], "less than 100"),
        ({"strategy": "rsi", "sell_above": 70}, ["rsi", "sell_above"], "Extra inputs"),
        ({"strategy": "rsi", "order_quote": "50"}, ["rsi", "order_quote"], "Extra inputs"),
        ({"strategy": "rsi", "stop_loss_pct": "2"}, ["rsi", "stop_loss_pct"], "Extra inputs"),
        ({"strategy": "rsi", "timeframe": "60m"}, ["rsi", "timeframe"], "must be written '1h'"),
        ({"strategy": "rsi", "timeframe": "1x"}, ["rsi", "timeframe"], "timeframe"),
        ({"strategy": "macd", "fast": 26, "slow": 12}, ["macd"], "fast < slow"),
        ({"strategy": "bollinger", "stddev": 0}, ["bollinger", "stddev"], "greater than 0"),
        ({"strategy": "bollinger", "exit_band": "upper"}, ["bollinger", "exit_band"], "Extra"),
        ({"strategy": "ma_cross", "kind": "wma"}, ["ma_cross", "kind"], "'sma' or 'ema'"),
        ({"strategy": "ma_cross", "fast": 50, "slow": 20}, ["ma_cross"], "fast < slow"),
    ],
)
async def test_a_bad_start_condition_is_422_naming_the_field(
    client: httpx.AsyncClient, user: ApiUser, start: Any, where: list[str], words: str
) -> None:
    response = await post(client, user, dca_body(start_condition=start))

    assert_error_shape(response, 422, "validation_error")
    error = response.json()["error"]
    assert words in error["message"], error
    locations = [detail["loc"] for detail in error["details"]]
    assert ["body", "dca", "config", "start_condition", *where] in locations, locations


async def test_the_start_timeframe_must_be_built_from_the_replayed_candles(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    await store_series(db, timeframe="1h")
    body = dca_body(start_condition={**RSI_START, "timeframe": "30m"})
    body["paper"]["timeframe"] = "1h"
    response = await post(client, user, body)

    assert_error_shape(response, 422)
    error = response.json()["error"]
    assert "the start condition's timeframe 30m cannot be built" in error["message"]
    assert error["details"][0]["loc"] == ["body", "config", "start_condition", "timeframe"]

    body = dca_body(start_condition={**RSI_START, "timeframe": "4h"})
    body["paper"]["timeframe"] = "1h"
    await create_bot(client, user, body)
    live = dca_body(start_condition={**RSI_START, "timeframe": "30m"})
    live["paper"] = {"price_source": "live", "timeframe": "1h", "balances": {"USDT": "10000"}}
    await create_bot(client, user, live)  # live prices: the exchange has every timeframe


def test_the_pure_config_gets_the_rule_and_the_timeframe() -> None:
    params = DcaParams.model_validate({**DCA_CONFIG, "start_condition": RSI_START})
    assert isinstance(params.start_condition, RsiStart)
    start = to_dca_config(params).start_condition
    assert isinstance(start, StartCondition)
    assert start.timeframe == parse_timeframe("15m")
    assert isinstance(start.rule, RsiRule)
    assert (start.rule.period, start.rule.buy_below) == (14, 30.0)
    assert to_dca_config(DcaParams.model_validate(DCA_CONFIG)).start_condition is None


def test_the_runtime_fetches_the_start_conditions_candles() -> None:
    stored = DcaParams.model_validate({**DCA_CONFIG, "start_condition": RSI_START})
    assert candle_timeframe(stored.model_dump(mode="json")) == "15m"
    assert candle_timeframe(DcaParams.model_validate(DCA_CONFIG).model_dump(mode="json")) is None
    assert candle_timeframe({"strategy": "rsi", "timeframe": "4h"}) == "4h"  # an indicator bot
