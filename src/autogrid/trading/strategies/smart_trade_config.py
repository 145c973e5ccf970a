"""What a smart trade is asked to do: its entry, its exits, its size.

A smart trade is one long spot position with its exits set in advance:

* entry: at market, one limit, or a zone split into ``zone_orders`` limit buys from its top to
  its bottom;
* take-profit steps: limit sells at their prices, each for its share (percent) of what was
  bought; a step without a share takes an even part of what the others leave;
* a stop loss, as a price or a percent below the average entry price, which can move up to the
  break-even price once the first take-profit step has filled;
* a trailing stop: sell at market once the price falls ``trailing_percent`` below the highest
  price seen since the entry, from the time the price reached ``trailing_activation_price``
  (from the entry when none is given);
* a timeout: that long after the start, an unfilled entry is cancelled and what is held is sold
  at market.

``validate`` refuses what cannot work (the API's 422): shares over 100, a stop above the entry,
a take-profit below it, non-positive prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from autogrid.signals.model import Amount, AmountUnit, TakeProfit
from autogrid.trading.strategies.base import StrategyConfigError

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_ZONE_ORDERS = 20
MAX_TAKE_PROFITS = 10


class EntryKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    ZONE = "zone"


@dataclass(frozen=True, slots=True)
class SmartEntry:
    kind: EntryKind = EntryKind.MARKET
    price: Decimal | None = None  # a limit entry's price
    zone_low: Decimal | None = None
    zone_high: Decimal | None = None
    zone_orders: int = 3

    @property
    def highest(self) -> Decimal | None:
        """The highest price the entry buys at (None at market: not known in advance)."""
        return self.zone_high if self.kind is EntryKind.ZONE else self.price

    @property
    def lowest(self) -> Decimal | None:
        return self.zone_low if self.kind is EntryKind.ZONE else self.price


@dataclass(frozen=True, slots=True)
class SmartTradeConfig:
    amount: Amount
    entry: SmartEntry = SmartEntry()
    take_profits: tuple[TakeProfit, ...] = ()
    stop_loss_price: Decimal | None = None
    stop_loss_percent: Decimal | None = None
    break_even_after_first_tp: bool = False
    trailing_percent: Decimal | None = None
    trailing_activation_price: Decimal | None = None
    timeout_seconds: int | None = None

    def validate(self) -> None:
        _check_amount(self.amount)
        _check_entry(self.entry)
        self._check_exits()
        lowest, highest = self.entry.lowest, self.entry.highest
        stop = self.stop_loss_price
        if stop is not None and lowest is not None and stop >= lowest:
            raise StrategyConfigError(
                f"stop_loss price {self.stop_loss_price} must be below the entry ({lowest})"
            )
        if highest is not None:
            for step in self.take_profits:
                if step.price <= highest:
                    raise StrategyConfigError(
                        f"take-profit price {step.price} must be above the entry ({highest})"
                    )

    def _check_exits(self) -> None:
        if self.stop_loss_price is not None and self.stop_loss_percent is not None:
            raise StrategyConfigError("give the stop loss as a price or a percent, not both")
        if self.stop_loss_price is not None and self.stop_loss_price <= 0:
            raise StrategyConfigError("stop_loss price must be positive")
        if self.stop_loss_percent is not None and not ZERO < self.stop_loss_percent < HUNDRED:
            raise StrategyConfigError("stop_loss percent must be in (0, 100)")
        if len(self.take_profits) > MAX_TAKE_PROFITS:
            raise StrategyConfigError(f"at most {MAX_TAKE_PROFITS} take-profit steps")
        for step in self.take_profits:
            if step.price <= 0:
                raise StrategyConfigError("take-profit prices must be positive")
            if step.share_percent is not None and not ZERO < step.share_percent <= HUNDRED:
                raise StrategyConfigError("take-profit shares must be in (0, 100]")
        given = sum((s.share_percent or ZERO for s in self.take_profits), ZERO)
        if given > HUNDRED:
            raise StrategyConfigError(f"take-profit shares add up to {given}%, more than 100%")
        if self.break_even_after_first_tp and not self.take_profits:
            raise StrategyConfigError("break_even_after_first_tp needs a take-profit step")
        if self.trailing_percent is not None and not ZERO < self.trailing_percent < HUNDRED:
            raise StrategyConfigError("trailing_percent must be in (0, 100)")
        if self.trailing_activation_price is not None:
            if self.trailing_percent is None:
                raise StrategyConfigError("trailing_activation_price needs trailing_percent")
            if self.trailing_activation_price <= 0:
                raise StrategyConfigError("trailing_activation_price must be positive")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise StrategyConfigError("timeout_seconds must be positive")


def _check_amount(amount: Amount) -> None:
    if amount.value <= 0:
        raise StrategyConfigError("amount must be positive")
    if amount.unit is AmountUnit.PERCENT and amount.value > HUNDRED:
        raise StrategyConfigError("an amount in percent of the free quote must be at most 100")


def _check_entry(entry: SmartEntry) -> None:
    if entry.kind is EntryKind.LIMIT and (entry.price is None or entry.price <= 0):
        raise StrategyConfigError("a limit entry needs a positive price")
    if entry.kind is EntryKind.ZONE:
        low, high = entry.zone_low, entry.zone_high
        if low is None or high is None or low <= 0 or high < low:
            raise StrategyConfigError("a zone entry needs 0 < zone_low <= zone_high")
        if not 1 <= entry.zone_orders <= MAX_ZONE_ORDERS:
            raise StrategyConfigError(f"zone_orders must be between 1 and {MAX_ZONE_ORDERS}")
    elif entry.zone_low is not None or entry.zone_high is not None:
        raise StrategyConfigError("zone_low and zone_high only apply to a zone entry")
