"""The indicator bots' parameters, and the indicator start condition of a DCA bot's deals.

Each indicator model mirrors one pure rule (``RsiRule``, ``MacdRule``, ``BollingerRule``,
``MaCrossRule``) plus the ``Sizing`` of its entries; a start condition is the same rule's entry
signal alone. ``to_*`` build the pure values; the rules' own cross-field checks run at validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Strict, Tag, model_validator

from autogrid.bots.fields import ParamsModel, Percent, Positive, PositivePercent, Timeframe
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.dca_start import StartCondition
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

# --- indicator ----------------------------------------------------------------------------

_Threshold = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]
_Period = Annotated[int, Strict(), Field(ge=1, le=1000)]


class _IndicatorParams(ParamsModel):
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


class _StartParams(ParamsModel):
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
