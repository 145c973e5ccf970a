"""Build a strategy from a bot type and its config dict, with the bot API's parameter names.

The names, defaults and field bounds are the bot API's own models (``autogrid.bots.configs``),
and the strategies' cross-field and market checks run too (``check_strategy``): a backtest
accepts exactly the configs a bot accepts, and says why it refuses one.

* ``grid``: lower_price, upper_price, grid_count, spacing (arithmetic | geometric),
  investment or quote_per_grid, direction (long | neutral), trailing_up, trailing_up_limit,
  trailing_down, trailing_down_limit, stop_loss_price, take_profit_price, sell_base_on_stop.
* ``dca`` (3Commas' names): base_order_volume, safety_order_volume, safety_order_step_percentage,
  martingale_volume_coefficient, martingale_step_coefficient, max_safety_orders,
  active_safety_orders_count, take_profit, take_profit_type (total | base),
  trailing_take_profit, trailing_deviation, stop_loss_percentage, cooldown_seconds,
  start_condition ("immediate", or an entry rule with its parameters and timeframe: rsi (period,
  buy_below), macd (fast, slow, signal), bollinger (period, stddev), ma_cross (fast, slow, kind)).
* ``indicator`` with ``strategy``: rsi (period, buy_below, sell_above), macd (fast, slow,
  signal), bollinger (period, stddev, exit_band: upper | middle) or ma_cross (fast, slow, kind:
  sma | ema); sizing for all four: order_quote or order_pct, stop_loss_pct, take_profit_pct.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from autogrid.backtest.signal_replay import SignalListError, signal_bot_from_config
from autogrid.bots.configs import (
    DcaParams,
    GridParams,
    StrategyParams,
    check_strategy,
    to_dca_config,
    to_grid_config,
)
from autogrid.bots.indicator_params import IndicatorParams, to_signal_rule, to_sizing
from autogrid.bots.signal_params import SignalBotParams, to_signal_bot_config
from autogrid.bots.smart_trade_params import SmartTradeParams, to_smart_trade_config
from autogrid.exchanges.types import MarketRules
from autogrid.trading.strategies.base import Strategy, StrategyConfigError
from autogrid.trading.strategies.buys_only import BuysOnlyStrategy
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.indicator import IndicatorStrategy
from autogrid.trading.strategies.signal_bot import SignalBotStrategy
from autogrid.trading.strategies.smart_trade import SmartTradeStrategy

BOT_TYPES = ("grid", "dca", "indicator")
INDICATOR_STRATEGIES = ("rsi", "macd", "bollinger", "ma_cross")
_INDICATOR_PARAMS: TypeAdapter[Any] = TypeAdapter(IndicatorParams)


def parse_params(bot_type: str, config: Mapping[str, Any]) -> StrategyParams:
    """The config, checked field by field; raises ``StrategyConfigError`` naming each problem."""
    try:
        if bot_type == "grid":
            return GridParams.model_validate(config)
        if bot_type == "dca":
            params = DcaParams.model_validate(config)
            if params.schedule is not None:
                raise StrategyConfigError("schedule (recurring buys) cannot be backtested yet")
            return params
        if bot_type == "indicator":
            parsed: StrategyParams = _INDICATOR_PARAMS.validate_python(dict(config))
            return parsed
    except ValidationError as error:
        raise StrategyConfigError(_describe(error)) from None
    raise StrategyConfigError(f"unknown bot type {bot_type!r}; use one of {', '.join(BOT_TYPES)}")


def strategy_from_params(params: StrategyParams, market: MarketRules) -> Strategy[Any]:
    """The pure strategy for checked params; raises ``StrategyConfigError`` if the market or a
    cross-field rule refuses them (a grid step below two fees, orders below the minimum...)."""
    check_strategy(params, market)
    if isinstance(params, GridParams):
        return GridStrategy(to_grid_config(params), market)
    if isinstance(params, SmartTradeParams):
        return SmartTradeStrategy(to_smart_trade_config(params), market)
    if isinstance(params, DcaParams):
        if not params.deals:
            return BuysOnlyStrategy(market)
        return DcaStrategy(to_dca_config(params), market)
    if isinstance(params, SignalBotParams):
        return SignalBotStrategy(market, to_signal_bot_config(params))
    return IndicatorStrategy(to_signal_rule(params), to_sizing(params), market)


def build_strategy(bot_type: str, config: Mapping[str, Any], market: MarketRules) -> Strategy[Any]:
    if bot_type == "signal":
        # A stored signal list (already checked by its schema); the run schedules it on the
        # loaded candles (``signal_replay``).
        try:
            return signal_bot_from_config(config, market)
        except SignalListError as error:
            raise StrategyConfigError(str(error)) from None
    return strategy_from_params(parse_params(bot_type, config), market)


def bot_type_of(strategy_name: str) -> tuple[str, dict[str, Any]]:
    """The CLI's one-word strategy name -> (bot type, config entries it implies)."""
    if strategy_name in ("grid", "dca"):
        return strategy_name, {}
    if strategy_name in INDICATOR_STRATEGIES:
        return "indicator", {"strategy": strategy_name}
    choices = ", ".join(("grid", "dca", *INDICATOR_STRATEGIES))
    raise StrategyConfigError(f"unknown strategy {strategy_name!r}; use one of {choices}")


def _describe(error: ValidationError) -> str:
    """``lower_price: Input should be greater than 0; grid_count: Field required``."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"] if part not in INDICATOR_STRATEGIES)
        problems.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(problems)
