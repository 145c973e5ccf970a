"""The strategy parameters of each bot type, as the API accepts and shows them.

Each model mirrors one pure strategy config (``GridConfig``, ``DcaConfig``, the indicator rules and
``Sizing``) with the same names, and adds the field-level bounds /docs shows. Cross-field rules and
the market's minimums are the pure strategies' own checks, run by ``check_strategy``: the API and
the strategies can never disagree on what is valid. ``to_*`` build the pure configs the runtime
and the backtests run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    model_validator,
)

from autogrid.bots.fields import (
    Coefficient,
    NonNegative,
    Percent,
    Positive,
    PositivePercent,
)
from autogrid.exchanges.types import MarketRules
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.dca_config import DcaConfig, TakeProfitType, max_deal_funds
from autogrid.trading.strategies.dca_start import StartCondition
from autogrid.trading.strategies.grid_config import (
    MAX_GRID_COUNT,
    MIN_GRID_COUNT,
    Direction,
    GridConfig,
    Spacing,
    validate_grid,
)
from autogrid.trading.strategies.indicator import Sizing
from autogrid.trading.strategies.signals import (
    AverageKind,
    BollingerExit,
    BollingerRule,
    MacdRule,
    MaCrossRule,
    RsiRule,
    SignalRule,
)

HUNDRED = Decimal(100)
# A recurring buy may not fire more often than hourly, the fastest of the ``every`` choices.
MIN_SCHEDULE_INTERVAL_SECONDS = 3600
_CRON_SAMPLES = 200

Count = Annotated[int, Strict()]


def _timeframe(text: str) -> str:
    return parse_timeframe(text).name  # InvalidTimeframe is a ValueError: a 422 naming the field


Timeframe = Annotated[str, Field(max_length=8), AfterValidator(_timeframe)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- grid ---------------------------------------------------------------------------------


class GridParams(_Params):
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
    expression = " ".join(expression.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise ValueError("cron must be a valid five-field expression, e.g. '0 9 * * MON'")
    # Sampled from a fixed date so the answer never depends on when it is asked.
    times = croniter(expression, datetime(2024, 1, 1))
    try:
        fires = [times.get_next(datetime) for _ in range(_CRON_SAMPLES)]
    except CroniterBadDateError:
        raise ValueError("cron expression never fires") from None
    shortest = min((b - a).total_seconds() for a, b in pairwise(fires))
    if shortest < MIN_SCHEDULE_INTERVAL_SECONDS:
        raise ValueError("cron may not fire more often than once an hour")
    return expression


class DcaSchedule(_Params):
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


class DcaParams(_Params):
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
    # Defined with the indicator fields it reuses, below (hence the model_rebuild there).
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


# --- indicator ----------------------------------------------------------------------------

_Threshold = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]
_Period = Annotated[int, Strict(), Field(ge=1, le=1000)]


class _IndicatorParams(_Params):
    strategy: str  # narrowed to one Literal by each subclass (the discriminator)
    timeframe: Timeframe = "1h"
    order_quote: Positive | None = Field(None, description="quote per entry; or order_pct")
    order_pct: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)] | None = Field(
        None, description="percent of the free quote per entry (default 100)"
    )
    stop_loss_pct: Percent | None = None
    take_profit_pct: PositivePercent | None = None

    @model_validator(mode="after")
    def _one_sizing(self) -> _IndicatorParams:
        if self.order_quote is not None and self.order_pct is not None:
            raise ValueError("give order_quote or order_pct, not both")
        if self.order_quote is None and self.order_pct is None:
            self.order_pct = HUNDRED
        return self


class RsiParams(_IndicatorParams):
    """Buy when RSI crosses below buy_below, sell when it crosses above sell_above."""

    strategy: Literal["rsi"]
    period: _Period = 14
    buy_below: _Threshold = 30.0
    sell_above: _Threshold = 70.0


class MacdParams(_IndicatorParams):
    """Buy when the MACD line crosses above its signal line, sell on the cross below."""

    strategy: Literal["macd"]
    fast: _Period = 12
    slow: _Period = 26
    signal: _Period = 9


class BollingerParams(_IndicatorParams):
    """Buy below the lower band, sell above exit_band (the upper or the middle band)."""

    strategy: Literal["bollinger"]
    period: _Period = 20
    stddev: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 2.0
    exit_band: BollingerExit = BollingerExit.UPPER


class MaCrossParams(_IndicatorParams):
    """Buy when the fast average crosses above the slow one, sell on the cross below."""

    strategy: Literal["ma_cross"]
    fast: _Period = 20
    slow: _Period = 50
    kind: AverageKind = AverageKind.EMA


IndicatorParams = Annotated[
    RsiParams | MacdParams | BollingerParams | MaCrossParams, Field(discriminator="strategy")
]
AnyIndicatorParams = RsiParams | MacdParams | BollingerParams | MaCrossParams
StrategyParams = GridParams | DcaParams | AnyIndicatorParams


def to_signal_rule(params: AnyIndicatorParams) -> SignalRule:
    """The pure rule; raises StrategyConfigError for cross-field mistakes (fast >= slow...)."""
    if isinstance(params, RsiParams):
        return RsiRule(params.period, params.buy_below, params.sell_above)
    if isinstance(params, MacdParams):
        return MacdRule(params.fast, params.slow, params.signal)
    if isinstance(params, BollingerParams):
        return BollingerRule(params.period, params.stddev, params.exit_band)
    return MaCrossRule(params.fast, params.slow, params.kind)


def to_sizing(params: AnyIndicatorParams) -> Sizing:
    return Sizing(
        order_quote=params.order_quote,
        order_pct=params.order_pct if params.order_pct is not None else HUNDRED,
        stop_loss_pct=params.stop_loss_pct,
        take_profit_pct=params.take_profit_pct,
    )


# --- DCA start condition ------------------------------------------------------------------


class _StartParams(_Params):
    """An indicator rule's entry signal, on closed candles of ``timeframe``, opens each deal."""

    strategy: str  # narrowed to one Literal by each subclass (the tag)
    timeframe: Timeframe = "1h"

    @model_validator(mode="after")
    def _rule_accepts(self) -> _StartParams:
        try:  # the rule's own cross-field checks (fast < slow...), as a 422 naming the field
            to_start_condition(self)
        except StrategyConfigError as error:
            raise ValueError(str(error)) from None
        return self


class RsiStart(_StartParams):
    """Start when RSI crosses below buy_below (previous >= buy_below > current)."""

    strategy: Literal["rsi"]
    period: _Period = 14
    buy_below: _Threshold = 30.0


class MacdStart(_StartParams):
    """Start when the MACD line crosses above its signal line."""

    strategy: Literal["macd"]
    fast: _Period = 12
    slow: _Period = 26
    signal: _Period = 9


class BollingerStart(_StartParams):
    """Start on a close below the lower band."""

    strategy: Literal["bollinger"]
    period: _Period = 20
    stddev: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 2.0


class MaCrossStart(_StartParams):
    """Start when the fast average crosses above the slow one."""

    strategy: Literal["ma_cross"]
    fast: _Period = 20
    slow: _Period = 50
    kind: AverageKind = AverageKind.EMA


_START_TAGS = ("immediate", "rsi", "macd", "bollinger", "ma_cross")


def _start_tag(value: Any) -> str | None:
    # A string can only mean "immediate" (a wrong one is refused as such); an object is tagged
    # by its strategy, so a mistake is reported against that rule's fields alone.
    if isinstance(value, str):
        return "immediate"
    strategy = value.get("strategy") if isinstance(value, dict) else getattr(value, "strategy", 0)
    return strategy if isinstance(strategy, str) else None


DcaStartCondition = Annotated[
    Annotated[Literal["immediate"], Tag("immediate")]
    | Annotated[RsiStart, Tag("rsi")]
    | Annotated[MacdStart, Tag("macd")]
    | Annotated[BollingerStart, Tag("bollinger")]
    | Annotated[MaCrossStart, Tag("ma_cross")],
    Discriminator(
        _start_tag,
        custom_error_type="start_condition",
        custom_error_message=(
            "start_condition must be 'immediate' or an object whose strategy is one of "
            + ", ".join(_START_TAGS[1:])
        ),
    ),
]
DcaParams.model_rebuild()


def to_start_condition(params: _StartParams | Literal["immediate"]) -> StartCondition | None:
    """The pure start condition (None: immediate); raises StrategyConfigError like the rules."""
    if not isinstance(params, _StartParams):
        return None
    rule: SignalRule
    if isinstance(params, RsiStart):
        # Only the entry is used; the rule still wants an exit level between buy_below and 100.
        rule = RsiRule(params.period, params.buy_below, (params.buy_below + 100) / 2)
    elif isinstance(params, MacdStart):
        rule = MacdRule(params.fast, params.slow, params.signal)
    elif isinstance(params, BollingerStart):
        rule = BollingerRule(params.period, params.stddev)
    else:
        assert isinstance(params, MaCrossStart)
        rule = MaCrossRule(params.fast, params.slow, params.kind)
    return StartCondition(rule, parse_timeframe(params.timeframe))


def candle_timeframe(config: Mapping[str, Any]) -> str | None:
    """The timeframe of the candles a stored (JSON) config's strategy reads: an indicator bot's,
    or a DCA bot's indicator start condition's; None for strategies that read no candles."""
    start = config.get("start_condition")
    if isinstance(start, Mapping):
        return str(start["timeframe"])
    timeframe = config.get("timeframe")
    return None if timeframe is None else str(timeframe)


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


def _at_least_min_cost(market: MarketRules, what: str, quote: Decimal) -> None:
    if quote < market.min_cost:
        raise StrategyConfigError(
            f"{what} is {quote} {market.quote}, below the market minimum order cost "
            f"{market.min_cost} {market.quote}"
        )
