"""A grid's ladder: level prices and amounts, what a sell can carry, and the prices at which
the grid stops or trails (pure functions of the config and the market, prices remembered).

Levels are numbered absolutely (0 is the configured lower price); ``offset`` is the ladder's
lowest level once trailing has slid it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import PlaceOrder
from autogrid.trading.strategies.grid_config import (
    GridConfig,
    level_price,
    round_amount,
    round_price,
)


def buy_tag(level: int) -> str:
    return f"B{level}"


def sell_tag(level: int) -> str:
    return f"S{level}"


@dataclass(frozen=True, slots=True)
class GridLadder:
    config: GridConfig
    market: MarketRules
    # Level prices and amounts, remembered (pure functions of the level; not part of equality).
    _prices: dict[int, Decimal] = field(default_factory=dict, init=False, repr=False, compare=False)
    _amounts: dict[int, Decimal] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def price_at(self, level: int) -> Decimal:
        price = self._prices.get(level)
        if price is None:  # a pure function of the level: remembered, backtests ask a lot
            price = round_price(level_price(self.config, level), self.market.price_tick)
            self._prices[level] = price
        return price

    def amount_for(self, level: int) -> Decimal:
        """Base bought by a buy at ``level`` (and sold one level up): one grid's quote."""
        amount = self._amounts.get(level)
        if amount is None:
            amount = round_amount(
                self.config.per_grid_quote / self.price_at(level), self.market.amount_step
            )
            self._amounts[level] = amount
        return amount

    def nearest_level(self, price: Decimal, offset: int) -> int:
        top = offset + self.config.grid_count
        if price <= self.price_at(offset):
            return offset
        if price >= self.price_at(top):
            return top
        return min(range(offset, top + 1), key=lambda level: abs(self.price_at(level) - price))

    def sellable(self, held: Decimal, level: int) -> Decimal | None:
        """The amount of ``held`` a sell at ``level`` can carry, or None if it is only dust."""
        amount = round_amount(held, self.market.amount_step)
        if amount <= 0 or amount < self.market.min_amount:
            return None
        return None if amount * self.price_at(level) < self.market.min_cost else amount

    def buy_order(self, level: int) -> PlaceOrder:
        return PlaceOrder(
            buy_tag(level), Side.BUY, OrderType.LIMIT, self.amount_for(level), self.price_at(level)
        )

    def stop_condition(self, price: Decimal) -> str | None:
        if self.config.stop_loss_price is not None and price <= self.config.stop_loss_price:
            return f"stop-loss: price {price} <= {self.config.stop_loss_price}"
        if self.config.take_profit_price is not None and price >= self.config.take_profit_price:
            return f"take-profit: price {price} >= {self.config.take_profit_price}"
        return None

    def trail_up_trigger(self, offset: int) -> Decimal | None:
        if not self.config.trailing_up:
            return None
        new_top = self.price_at(offset + self.config.grid_count + 1)
        limit = self.config.trailing_up_limit
        return None if limit is not None and new_top > limit else new_top

    def trail_down_trigger(self, offset: int) -> Decimal | None:
        if not self.config.trailing_down:
            return None
        new_bottom = self.price_at(offset - 1)
        limit = self.config.trailing_down_limit
        return None if (limit is not None and new_bottom < limit) or new_bottom <= 0 else new_bottom

    def should_trail_up(self, price: Decimal, offset: int) -> bool:
        trigger = self.trail_up_trigger(offset)
        return trigger is not None and price >= trigger

    def should_trail_down(self, price: Decimal, offset: int) -> bool:
        trigger = self.trail_down_trigger(offset)
        return trigger is not None and price <= trigger
