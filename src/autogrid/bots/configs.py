"""The strategy parameters of each bot type, as the API accepts and shows them.

Each model mirrors one pure strategy config (``GridConfig``, ``DcaConfig``, the indicator rules and
``Sizing``) with the same names, and adds the field-level bounds /docs shows. Cross-field rules and
the market's minimums are the pure strategies' own checks, run by ``check_strategy``: the API and
the strategies can never disagree on what is valid. ``to_*`` build the pure configs the runtime
and the backtests run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from autogrid.bots.fields import (
    Coefficient,
    Count,
    NonNegative,
    ParamsModel,
    Percent,
    Positive,
    PositivePercent,
)
from autogrid.bots.indicator_params import (
    AnyIndicatorParams,
    DcaStartCondition,
    to_signal_rule,
    to_sizing,
    to_start_condition,
)
from autogrid.bots.signal_params import SignalBotParams, to_signal_bot_config
from autogrid.bots.smart_trade_params import SmartTradeParams, to_smart_trade_config
from autogrid.exchanges.types import MarketRules
from autogrid.signals.model import AmountUnit
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.dca_config import DcaConfig, TakeProfitType, max_deal_funds
from autogrid.trading.strategies.grid_config import (
    MAX_GRID_COUNT,
    MIN_GRID_COUNT,
    Direction,
    GridConfig,
    Spacing,
    validate_grid,
)

HUNDRED = Decimal(100)
# A recurring buy may not fire more often than hourly, the fastest of the ``every`` choices.
MIN_SCHEDULE_INTERVAL_SECONDS = 3600
_CRON_SAMPLES = 200


# --- grid ---------------------------------------------------------------------------------


class GridParams(ParamsModel):
    """A ladder of limit orders between lower_price and upper_price."""

    lower_price: Positive
    upper_price: Positive
    grid_count: Count = Field(ge=MIN_GRID_COUNT, le=MAX_GRID_COUNT)
    spacing: Spacing = Spacing.ARITHMETIC
    investment: Positive | None = Field(None, description="total quote; or give quote_per_grid")
    quote_per_grid: Positive | None = Field(None, description="quote per level; or investment")
    direction: Direction = Direction.LONG
    trailing_up: bool = False
    trailing_up_limit: Positive | None = None
    trailing_down: bool = False
    trailing_down_limit: Positive | None = None
    stop_loss_price: Positive | None = None
    take_profit_price: Positive | None = None
    sell_base_on_stop: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> GridParams:
        if self.upper_price <= self.lower_price:
            raise ValueError("upper_price must be above lower_price")
        if (self.investment is None) == (self.quote_per_grid is None):
            raise ValueError("give exactly one of investment or quote_per_grid")
        if self.trailing_up_limit is not None and not self.trailing_up:
            raise ValueError("trailing_up_limit needs trailing_up")
        if self.trailing_down_limit is not None and not self.trailing_down:
            raise ValueError("trailing_down_limit needs trailing_down")
        return self


def to_grid_config(params: GridParams) -> GridConfig:
    return GridConfig(
        lower_price=params.lower_price,
        upper_price=params.upper_price,
        grid_count=params.grid_count,
        spacing=params.spacing,
        investment=params.investment,
        quote_per_grid=params.quote_per_grid,
        direction=params.direction,
        trailing_up=params.trailing_up,
        trailing_up_limit=params.trailing_up_limit,
        trailing_down=params.trailing_down,
        trailing_down_limit=params.trailing_down_limit,
        stop_loss_price=params.stop_loss_price,
        take_profit_price=params.take_profit_price,
        sell_base_on_stop=params.sell_base_on_stop,
    )


# --- DCA ----------------------------------------------------------------------------------


class Frequency(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


class CatchUp(StrEnum):
    SKIP = "skip"  # missed slots (the bot was stopped, a worker was down) are dropped
    ONCE = "once"  # one buy makes up for all the missed slots


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None
    return name


def _cron(expression: str) -> str:
    return _checked_cron(" ".join(expression.split()))


# Sampled from a fixed date, the answer depends on the expression alone: it is remembered, since
# every read of a scheduled DCA bot validates its stored config again, and the samples cost
# about 10 ms of CPU (65,000 Python calls) each time.
@functools.lru_cache(maxsize=1024)
def _checked_cron(expression: str) -> str:
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise ValueError("cron must be a valid five-field expression, e.g. '0 9 * * MON'")
    times = croniter(expression, datetime(2024, 1, 1))
    try:
        fires = [times.get_next(datetime) for _ in range(_CRON_SAMPLES)]
    except CroniterBadDateError:
        raise ValueError("cron expression never fires") from None
    shortest = min((b - a).total_seconds() for a, b in pairwise(fires))
    if shortest < MIN_SCHEDULE_INTERVAL_SECONDS:
        raise ValueError("cron may not fire more often than once an hour")
    return expression


class DcaSchedule(ParamsModel):
    """A recurring buy of ``amount`` quote: ``every`` hourly/daily/weekly, or a ``cron``."""

    amount: Positive
    every: Frequency | None = None
    cron: Annotated[str, Field(max_length=120), AfterValidator(_cron)] | None = None
    timezone: Annotated[str, Field(max_length=64), AfterValidator(_zone)] = "UTC"
    catch_up: CatchUp = CatchUp.SKIP

    @model_validator(mode="after")
    def _one_rhythm(self) -> DcaSchedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of every or cron")
        return self


class DcaParams(ParamsModel):
    """A base order, safety orders below it and a take profit (3Commas' names and formulas);
    and/or recurring buys on a schedule. With ``deals: false`` the bot only runs the schedule."""

    deals: bool = Field(True, description="run deals; false: only the scheduled buys")
    base_order_volume: Positive | None = Field(
        None, description="quote spent by the base order (required with deals)"
    )
    safety_order_volume: NonNegative = Field(
        Decimal(0), description="quote of the first safety order"
    )
    safety_order_step_percentage: Percent | None = Field(
        None, description="D, percent below the base price (required with deals)"
    )
    martingale_volume_coefficient: Coefficient = Decimal(1)
    martingale_step_coefficient: Coefficient = Decimal(1)
    max_safety_orders: Count = Field(0, ge=0, le=200)
    active_safety_orders_count: Count = Field(1, ge=1, le=200)
    take_profit: PositivePercent | None = Field(None, description="percent (required with deals)")
    take_profit_type: TakeProfitType = TakeProfitType.TOTAL
    trailing_take_profit: bool = False
    trailing_deviation: Annotated[NonNegative, Field(lt=100)] = Decimal(0)
    stop_loss_percentage: Percent | None = None
    cooldown_seconds: Count = Field(0, ge=0, le=30 * 86_400)
    start_condition: DcaStartCondition = Field(
        "immediate", description="'immediate', or an indicator entry signal that opens each deal"
    )
    schedule: DcaSchedule | None = None

    @model_validator(mode="after")
    def _deals_or_schedule(self) -> DcaParams:
        if self.deals:
            missing = [name for name in _DEAL_FIELDS if getattr(self, name) is None]
            if missing:
                raise ValueError(f"a DCA bot running deals needs {', '.join(missing)}")
        elif self.schedule is None:
            raise ValueError("a DCA bot without deals needs a schedule")
        elif self.start_condition != "immediate":
            raise ValueError("start_condition opens deals: a DCA bot without deals has none")
        return self


_DEAL_FIELDS = ("base_order_volume", "safety_order_step_percentage", "take_profit")


def to_dca_config(params: DcaParams) -> DcaConfig:
    """The deals' pure config; raises StrategyConfigError for a schedule-only bot."""
    base, step, take_profit = (getattr(params, name) for name in _DEAL_FIELDS)
    if not params.deals or base is None or step is None or take_profit is None:
        raise StrategyConfigError("this DCA bot runs no deals, only scheduled buys")
    return DcaConfig(
        base_order_volume=base,
        safety_order_volume=params.safety_order_volume,
        safety_order_step_percentage=step,
        take_profit=take_profit,
        max_safety_orders=params.max_safety_orders,
        active_safety_orders_count=params.active_safety_orders_count,
        martingale_volume_coefficient=params.martingale_volume_coefficient,
        martingale_step_coefficient=params.martingale_step_coefficient,
        take_profit_type=params.take_profit_type,
        trailing_take_profit=params.trailing_take_profit,
        trailing_deviation=params.trailing_deviation,
        stop_loss_percentage=params.stop_loss_percentage,
        cooldown_seconds=params.cooldown_seconds,
        start_condition=to_start_condition(params.start_condition),
    )


def dca_max_deal_funds(params: DcaParams) -> Decimal | None:
    """Quote one deal can commit: the base order and every safety order (None: no deals)."""
    return max_deal_funds(to_dca_config(params)) if params.deals else None


StrategyParams = GridParams | DcaParams | AnyIndicatorParams | SignalBotParams | SmartTradeParams


# --- the pure checks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FundsNeed:
    """Quote the strategy may commit at once, which the paper balances must cover."""

    what: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class StrategyCheck:
    investment: Decimal | None  # the quote at stake (None: a share of whatever is free)
    needs: tuple[FundsNeed, ...]


def check_strategy(params: StrategyParams, market: MarketRules) -> StrategyCheck:
    """Run the strategy's own validation against the market; raise StrategyConfigError."""
    if isinstance(params, GridParams):
        grid = to_grid_config(params)
        validate_grid(grid, market)
        return StrategyCheck(grid.total_investment, (FundsNeed("the grid", grid.total_investment),))
    if isinstance(params, DcaParams):
        return _check_dca(params, market)
    if isinstance(params, SignalBotParams):
        return _check_signal_bot(params, market)
    if isinstance(params, SmartTradeParams):
        return _check_smart_trade(params, market)
    to_signal_rule(params)
    to_sizing(params).validate()
    if params.order_quote is None:
        return StrategyCheck(None, ())
    _at_least_min_cost(market, "order_quote", params.order_quote)
    return StrategyCheck(params.order_quote, (FundsNeed("one entry", params.order_quote),))


def _check_dca(params: DcaParams, market: MarketRules) -> StrategyCheck:
    if not params.deals:
        assert params.schedule is not None  # the model's own rule
        _at_least_min_cost(market, "schedule.amount", params.schedule.amount)
        return StrategyCheck(None, (FundsNeed("one scheduled buy", params.schedule.amount),))
    config = to_dca_config(params)
    config.validate()
    _at_least_min_cost(market, "base_order_volume", config.base_order_volume)
    if config.max_safety_orders:
        # With a volume coefficient below 1 the last safety order is the smallest.
        last = config.safety_order_volume * config.martingale_volume_coefficient ** (
            config.max_safety_orders - 1
        )
        _at_least_min_cost(
            market, "the smallest safety order", min(last, params.safety_order_volume)
        )
    funds = max_deal_funds(config)
    needs: list[FundsNeed] = [FundsNeed("a full deal (max_deal_funds)", funds)]
    if params.schedule is not None:
        _at_least_min_cost(market, "schedule.amount", params.schedule.amount)
        needs.append(FundsNeed("one scheduled buy", params.schedule.amount))
    return StrategyCheck(funds, tuple(needs))


def _check_signal_bot(params: SignalBotParams, market: MarketRules) -> StrategyCheck:
    to_signal_bot_config(params).validate()
    if params.default_quote is None:
        return StrategyCheck(None, ())
    _at_least_min_cost(market, "default_quote", params.default_quote)
    return StrategyCheck(None, (FundsNeed("one default buy", params.default_quote),))


def _check_smart_trade(params: SmartTradeParams, market: MarketRules) -> StrategyCheck:
    to_smart_trade_config(params).validate()
    amount = params.amount
    if amount.unit is not AmountUnit.QUOTE:
        return StrategyCheck(None, ())  # sized at the start, on the price or the free quote
    orders = params.entry.zone_orders if params.entry.type == "zone" else 1
    _at_least_min_cost(market, "each entry order", amount.value / orders)
    return StrategyCheck(amount.value, (FundsNeed("the entry", amount.value),))


def _at_least_min_cost(market: MarketRules, what: str, quote: Decimal) -> None:
    if quote < market.min_cost:
        raise StrategyConfigError(
            f"{what} is {quote} {market.quote}, below the market minimum order cost "
            f"{market.min_cost} {market.quote}"
        )
