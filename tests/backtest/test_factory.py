"""Strategies from a bot type and its config dict, with the bot API's names and checks."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from autogrid.backtest.factory import bot_type_of, build_strategy
from autogrid.exchanges.types import MarketRules
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, Spacing
from autogrid.trading.strategies.indicator import IndicatorStrategy
from autogrid.trading.strategies.signals import BollingerExit, BollingerRule, MaCrossRule, RsiRule

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))


def test_grid_from_its_documented_fields() -> None:
    strategy = build_strategy(
        "grid",
        {
            "lower_price": "90000",
            "upper_price": 110000,
            "grid_count": 40,
            "spacing": "geometric",
            "investment": "5000",
            "direction": "neutral",
            "trailing_up": True,
            "trailing_up_limit": "150000",
            "stop_loss_price": "80000",
        },
        MARKET,
    )
    assert isinstance(strategy, GridStrategy)
    config = strategy.config
    assert (config.lower_price, config.upper_price, config.grid_count) == (
        D(90_000),
        D(110_000),
        40,
    )
    assert config.spacing is Spacing.GEOMETRIC and config.direction is Direction.NEUTRAL
    assert config.trailing_up_limit == D(150_000) and config.stop_loss_price == D(80_000)


def test_dca_from_3commas_names() -> None:
    fields: dict[str, Any] = {
        "base_order_volume": "100",
        "safety_order_volume": "50",
        "safety_order_step_percentage": "1.5",
        "martingale_volume_coefficient": "2",
        "martingale_step_coefficient": "1.2",
        "max_safety_orders": 5,
        "active_safety_orders_count": 2,
        "take_profit": "1",
        "take_profit_type": "base",
        "trailing_take_profit": True,
        "trailing_deviation": "0.3",
        "stop_loss_percentage": "20",
        "cooldown_seconds": 600,
    }
    strategy = build_strategy("dca", fields, MARKET)
    assert isinstance(strategy, DcaStrategy)
    for name, value in fields.items():
        actual = getattr(strategy.config, name)
        assert str(actual) == str(value) or actual == value or actual == D(str(value))


@pytest.mark.parametrize(
    ("config", "rule"),
    [
        ({"strategy": "rsi", "period": 7, "buy_below": 25, "sell_above": 75}, RsiRule(7, 25, 75)),
        (
            {"strategy": "bollinger", "period": 30, "stddev": 2.5, "exit_band": "middle"},
            BollingerRule(30, 2.5, BollingerExit.MIDDLE),
        ),
        ({"strategy": "ma_cross", "fast": 10, "slow": 30}, MaCrossRule(10, 30)),
    ],
)
def test_indicator_rules_and_sizing(config: dict[str, Any], rule: object) -> None:
    strategy = build_strategy("indicator", {**config, "order_pct": 50, "stop_loss_pct": 2}, MARKET)
    assert isinstance(strategy, IndicatorStrategy)
    assert strategy.rule == rule
    assert strategy.sizing.order_pct == D(50) and strategy.sizing.stop_loss_pct == D(2)


@pytest.mark.parametrize(
    ("bot_type", "config", "message"),
    [
        ("grid", {"lower_price": 1, "upper_price": 2}, "grid_count: Field required"),
        ("grid", {"lower_price": -1, "upper_price": 2, "grid_count": 4}, "lower_price"),
        (
            "grid",
            {"lower_price": 100, "upper_price": 101, "grid_count": 40, "investment": 1000},
            "two fees",
        ),
        ("indicator", {"strategy": "rsi", "period": 14, "colour": "red"}, "colour: Extra inputs"),
        ("indicator", {"strategy": "rsi", "buy_below": 80, "sell_above": 20}, "buy_below"),
        ("indicator", {"strategy": "macd", "fast": 30, "slow": 10}, "fast < slow"),
        ("indicator", {"strategy": "rsi", "order_quote": 1}, "minimum order cost"),
        ("dca", {"base_order_volume": 100}, "needs safety_order_step_percentage, take_profit"),
        ("bogus", {}, "unknown bot type 'bogus'"),
    ],
)
def test_bad_configs_are_refused_with_the_reason(
    bot_type: str, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(StrategyConfigError, match=message):
        build_strategy(bot_type, config, MARKET)


def test_cli_names_map_to_bot_types() -> None:
    assert bot_type_of("grid") == ("grid", {})
    assert bot_type_of("macd") == ("indicator", {"strategy": "macd"})
    with pytest.raises(StrategyConfigError, match="unknown strategy"):
        bot_type_of("martingale")
