"""DCA (safety-order) parameters and their formulas, in 3Commas' vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.dca_start import StartCondition

HUNDRED = Decimal(100)


class TakeProfitType(StrEnum):
    TOTAL = "total"  # from the average entry price
    BASE = "base"  # from the base order's price


@dataclass(frozen=True, slots=True)
class DcaConfig:
    base_order_volume: Decimal  # quote
    safety_order_volume: Decimal  # quote, first safety order
    safety_order_step_percentage: Decimal  # D
    take_profit: Decimal  # percent
    max_safety_orders: int = 0
    active_safety_orders_count: int = 1
    martingale_volume_coefficient: Decimal = Decimal(1)  # VS
    martingale_step_coefficient: Decimal = Decimal(1)  # SS
    take_profit_type: TakeProfitType = TakeProfitType.TOTAL
    trailing_take_profit: bool = False
    trailing_deviation: Decimal = Decimal(0)  # percent
    stop_loss_percentage: Decimal | None = None
    cooldown_seconds: int = 0
    start_condition: StartCondition | None = None  # None: open each deal at once

    def validate(self) -> None:
        checks = [
            (self.base_order_volume > 0, "base_order_volume must be positive"),
            (
                self.safety_order_volume > 0 or self.max_safety_orders == 0,
                "safety_order_volume must be positive",
            ),
            (
                Decimal(0) < self.safety_order_step_percentage < HUNDRED,
                "safety_order_step_percentage must be between 0 and 100",
            ),
            (
                Decimal("0.1") <= self.martingale_volume_coefficient <= 10,
                "martingale_volume_coefficient must be between 0.1 and 10",
            ),
            (
                Decimal("0.1") <= self.martingale_step_coefficient <= 10,
                "martingale_step_coefficient must be between 0.1 and 10",
            ),
            (0 <= self.max_safety_orders <= 200, "max_safety_orders must be between 0 and 200"),
            (
                self.max_safety_orders == 0
                or 1 <= self.active_safety_orders_count <= self.max_safety_orders,
                "active_safety_orders_count must be between 1 and max_safety_orders",
            ),
            (self.take_profit > 0, "take_profit must be positive"),
            (
                not self.trailing_take_profit
                or Decimal(0) < self.trailing_deviation < self.take_profit,
                "trailing_deviation must be positive and below take_profit",
            ),
            (
                self.stop_loss_percentage is None
                or Decimal(0) < self.stop_loss_percentage < HUNDRED,
                "stop_loss_percentage must be between 0 and 100",
            ),
            (self.cooldown_seconds >= 0, "cooldown_seconds must not be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise StrategyConfigError(message)
        if self.max_safety_orders and cumulative_deviation(self, self.max_safety_orders) >= HUNDRED:
            raise StrategyConfigError(
                "the last safety order would be 100% or more below the base price: "
                "lower the step, the step coefficient or the number of safety orders"
            )


def safety_order_volume(config: DcaConfig, n: int) -> Decimal:
    """Quote volume of safety order ``n`` (1-based): SO x VS^(n-1)."""
    return config.safety_order_volume * config.martingale_volume_coefficient ** (n - 1)


def cumulative_deviation(config: DcaConfig, n: int) -> Decimal:
    """Percent below the base price of safety order ``n``: D(SS^n - 1)/(SS - 1), or nD if SS = 1."""
    step, ss = config.safety_order_step_percentage, config.martingale_step_coefficient
    if ss == 1:
        return step * n
    return step * (ss**n - 1) / (ss - 1)


def safety_order_price(config: DcaConfig, base_price: Decimal, n: int) -> Decimal:
    return base_price * (1 - cumulative_deviation(config, n) / HUNDRED)


def max_deal_funds(config: DcaConfig) -> Decimal:
    """BO + SO(VS^N - 1)/(VS - 1), or BO + N x SO when VS = 1."""
    n, vs = config.max_safety_orders, config.martingale_volume_coefficient
    if n == 0:
        return config.base_order_volume
    if vs == 1:
        return config.base_order_volume + n * config.safety_order_volume
    return config.base_order_volume + config.safety_order_volume * (vs**n - 1) / (vs - 1)
