"""The config models against the pure strategies they feed (no database)."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from autogrid.bots.configs import (
    DcaParams,
    GridParams,
    check_strategy,
    to_dca_config,
    to_grid_config,
)
from autogrid.bots.fields import Amount, NonNegative, plain_decimal
from autogrid.bots.indicator_params import (
    BollingerParams,
    MacdParams,
    MaCrossParams,
    RsiParams,
    to_signal_rule,
    to_sizing,
)
from autogrid.bots.markets import conservative_market_rules
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.grid_config import GridConfig
from autogrid.trading.strategies.indicator import Sizing
from autogrid.trading.strategies.signals import BollingerRule, MacdRule, MaCrossRule, RsiRule
from tests.bots.factories import DCA_CONFIG, GRID_BODY


def names(cls: type) -> set[str]:
    return {field.name for field in fields(cls)}


def test_the_api_names_are_the_strategies_names() -> None:
    assert set(GridParams.model_fields) == names(GridConfig)
    api_only = {"start_condition", "schedule", "deals"}
    assert set(DcaParams.model_fields) == names(DcaConfig) | api_only
    common = names(Sizing) | {"strategy", "timeframe"}
    pairs: list[tuple[type[BaseModel], type]] = [
        (RsiParams, RsiRule),
        (MacdParams, MacdRule),
        (BollingerParams, BollingerRule),
        (MaCrossParams, MaCrossRule),
    ]
    for params, rule in pairs:
        assert set(params.model_fields) == common | names(rule), params


def test_the_builders_carry_every_value() -> None:
    grid = GridParams.model_validate(
        {**GRID_BODY["config"], "trailing_up": True, "trailing_up_limit": "130000"}
    )
    assert to_grid_config(grid) == GridConfig(
        lower_price=Decimal(100000), upper_price=Decimal(125000), grid_count=20,
        investment=Decimal(5000), trailing_up=True, trailing_up_limit=Decimal(130000),
    )  # fmt: skip
    dca = to_dca_config(DcaParams.model_validate(DCA_CONFIG))
    assert dca.martingale_volume_coefficient == Decimal(2) and dca.max_safety_orders == 3
    rsi = RsiParams.model_validate({"strategy": "rsi", "period": 7, "take_profit_pct": "4"})
    assert to_signal_rule(rsi) == RsiRule(7, 30.0, 70.0)
    assert to_sizing(rsi) == Sizing(order_pct=Decimal(100), take_profit_pct=Decimal(4))
    cross = MaCrossParams.model_validate({"strategy": "ma_cross", "fast": 5, "slow": 9})
    assert to_signal_rule(cross) == MaCrossRule(5, 9)


async def test_check_strategy_reports_what_each_type_commits() -> None:
    market = await conservative_market_rules("binance", "BTC/USDT")
    grid = check_strategy(GridParams.model_validate(GRID_BODY["config"]), market)
    assert grid.investment == Decimal(5000)
    assert [(n.what, n.amount) for n in grid.needs] == [("the grid", Decimal(5000))]

    scheduled = {**DCA_CONFIG, "schedule": {"amount": "20", "every": "weekly"}}
    dca = check_strategy(DcaParams.model_validate(scheduled), market)
    assert dca.investment == Decimal(450)
    assert [n.amount for n in dca.needs] == [Decimal(450), Decimal(20)]

    by_share = check_strategy(RsiParams.model_validate({"strategy": "rsi"}), market)
    assert by_share.investment is None and by_share.needs == ()


async def test_a_shrinking_martingale_must_keep_its_last_safety_order_above_the_minimum() -> None:
    market = await conservative_market_rules("binance", "BTC/USDT")
    # 40 x 0.5^2 = 10 is at the 10 USDT minimum; 0.4 makes the last one 6.4.
    ok = {**DCA_CONFIG, "safety_order_volume": "40", "martingale_volume_coefficient": "0.5"}
    check_strategy(DcaParams.model_validate(ok), market)
    with pytest.raises(StrategyConfigError, match=r"smallest safety order is 6\.4"):
        low = {**ok, "martingale_volume_coefficient": "0.4"}
        check_strategy(DcaParams.model_validate(low), market)


async def test_the_default_market_has_no_cost_floor_for_non_dollar_quotes() -> None:
    eth_btc = await conservative_market_rules("binance", "ETH/BTC")
    assert (eth_btc.base, eth_btc.quote, eth_btc.min_cost) == ("ETH", "BTC", Decimal(0))
    assert (await conservative_market_rules("kraken", "BTC/EUR")).min_cost == Decimal(10)


class Holder(BaseModel):
    stored: Amount
    given: NonNegative


@pytest.mark.parametrize(
    ("text", "plain"),
    [("5000.00", "5000"), ("1E+3", "1000"), ("0.50", "0.5"), ("1E-8", "0.00000001"), ("0", "0")],
)
def test_amounts_are_emitted_as_plain_decimal_strings(text: str, plain: str) -> None:
    dumped = Holder(stored=Decimal(text), given=text).model_dump(mode="json")
    assert dumped == {"stored": plain, "given": plain}
    assert plain_decimal(Decimal(text)) == Decimal(text)


def test_docs_show_each_bot_type_and_indicator_with_its_parameters(
    openapi_schema: dict[str, Any],
) -> None:
    schema = openapi_schema
    components = schema["components"]["schemas"]
    for name in (
        "GridParams", "DcaParams", "DcaSchedule", "RsiParams", "MacdParams",
        "BollingerParams", "MaCrossParams", "BreakerSettings", "PaperSettings",
    ):  # fmt: skip
        # FastAPI names the request and response variants apart when they differ.
        assert name in components or f"{name}-Input" in components, name
    assert "BotPage" in components
    body = schema["paths"]["/api/v1/bots"]["post"]["requestBody"]["content"]["application/json"]
    # One variant per bot type, and one naming a backtest whose tested config it takes.
    variants = {ref["$ref"].rsplit("/", 1)[-1] for ref in body["schema"]["oneOf"]}
    assert variants == {
        "GridBotCreate",
        "DcaBotCreate",
        "IndicatorBotCreate",
        "SignalBotCreate",
        "BotFromBacktestCreate",
    }
    grid = components.get("GridParams-Input") or components["GridParams"]
    assert grid["properties"]["grid_count"]["maximum"] == 500
    post = schema["paths"]["/api/v1/bots"]["post"]
    assert {"201", "403", "422"} <= set(post["responses"])
    assert "409" in schema["paths"]["/api/v1/bots/{bot_id}/start"]["post"]["responses"]
    trades = schema["paths"]["/api/v1/bots/{bot_id}/trades"]["get"]["responses"]["200"]
    assert "text/csv" in trades["content"]
