"""A smart trade's parameters as the API takes and shows them (``SmartTradeParams``), and the
pure config the runtime runs (``to_smart_trade_config``). Field bounds are checked here; the
cross-field rules (shares over 100, a stop above the entry...) are the pure config's own
``validate``, so the API and the strategy can never disagree."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from autogrid.bots.fields import ParamsModel, Percent, Positive
from autogrid.signals.model import Amount, AmountUnit, TakeProfit
from autogrid.trading.strategies.smart_trade_config import (
    MAX_TAKE_PROFITS,
    MAX_ZONE_ORDERS,
    EntryKind,
    SmartEntry,
    SmartTradeConfig,
)

MAX_TIMEOUT_SECONDS = 90 * 86_400


class TradeAmount(ParamsModel):
    """What the entry spends: quote, base, or a percent of the free quote at the start."""

    value: Positive
    unit: AmountUnit = AmountUnit.QUOTE


class EntryParams(ParamsModel):
    """market; limit at ``price``; or zone: ``zone_orders`` limit buys from zone_high down to
    zone_low."""

    type: EntryKind = EntryKind.MARKET
    price: Positive | None = Field(None, description="limit only")
    zone_low: Positive | None = Field(None, description="zone only")
    zone_high: Positive | None = Field(None, description="zone only")
    zone_orders: Annotated[int, Field(ge=1, le=MAX_ZONE_ORDERS)] = 3


class TakeProfitStep(ParamsModel):
    price: Positive
    share_percent: Annotated[Percent | None, Field(description="of what was bought")] = None


class StopLossParams(ParamsModel):
    """A price, or a percent below the average entry price (give one)."""

    price: Positive | None = None
    percent: Percent | None = None
    move_to_break_even_after_first_tp: bool = False


class TrailingStopParams(ParamsModel):
    """Sell at market once the price falls ``percent`` below its high since the entry."""

    percent: Percent
    activation_price: Positive | None = Field(None, description="trail only once reached")


class SmartTradeParams(ParamsModel):
    amount: TradeAmount
    entry: EntryParams = Field(default_factory=EntryParams)
    take_profits: list[TakeProfitStep] = Field(default_factory=list, max_length=MAX_TAKE_PROFITS)
    stop_loss: StopLossParams | None = None
    trailing_stop: TrailingStopParams | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None = Field(
        None, description="then an unfilled entry is cancelled and what is held sold at market"
    )


def to_smart_trade_config(params: SmartTradeParams) -> SmartTradeConfig:
    entry, stop, trailing = params.entry, params.stop_loss, params.trailing_stop
    return SmartTradeConfig(
        amount=Amount(params.amount.value, params.amount.unit),
        entry=SmartEntry(
            entry.type, entry.price, entry.zone_low, entry.zone_high, entry.zone_orders
        ),
        take_profits=tuple(TakeProfit(s.price, s.share_percent) for s in params.take_profits),
        stop_loss_price=stop.price if stop else None,
        stop_loss_percent=stop.percent if stop else None,
        break_even_after_first_tp=bool(stop and stop.move_to_break_even_after_first_tp),
        trailing_percent=trailing.percent if trailing else None,
        trailing_activation_price=trailing.activation_price if trailing else None,
        timeout_seconds=params.timeout_seconds,
    )
