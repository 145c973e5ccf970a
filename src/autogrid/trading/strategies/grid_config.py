"""Grid parameters and the ladder arithmetic (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum

from autogrid.exchanges.types import MarketRules
from autogrid.trading.strategies.base import StrategyConfigError

MIN_GRID_COUNT = 2
MAX_GRID_COUNT = 500


class Spacing(StrEnum):
    ARITHMETIC = "arithmetic"
    GEOMETRIC = "geometric"


class Direction(StrEnum):
    LONG = "long"  # starts with quote only
    NEUTRAL = "neutral"  # buys the base for the sell side at start


@dataclass(frozen=True, slots=True)
class GridConfig:
    lower_price: Decimal
    upper_price: Decimal
    grid_count: int
    spacing: Spacing = Spacing.ARITHMETIC
    investment: Decimal | None = None
    quote_per_grid: Decimal | None = None
    direction: Direction = Direction.LONG
    trailing_up: bool = False
    trailing_up_limit: Decimal | None = None
    trailing_down: bool = False
    trailing_down_limit: Decimal | None = None
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    sell_base_on_stop: bool = False

    @property
    def per_grid_quote(self) -> Decimal:
        if self.quote_per_grid is not None:
            return self.quote_per_grid
        assert self.investment is not None
        return self.investment / self.grid_count

    @property
    def total_investment(self) -> Decimal:
        return (
            self.investment
            if self.investment is not None
            else self.per_grid_quote * self.grid_count
        )


def level_price(config: GridConfig, index: int) -> Decimal:
    """Price of level ``index``; 0 is the lower bound, grid_count the upper. Trailing may move the
    ladder beyond both ends, so negative and larger indices are valid."""
    lower, upper, count = config.lower_price, config.upper_price, config.grid_count
    if config.spacing is Spacing.ARITHMETIC:
        return lower + (upper - lower) * index / count
    with localcontext() as ctx:
        ctx.prec = 34
        ratio = (upper / lower) ** (Decimal(1) / count)
        return lower * ratio**index


def round_price(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(ROUND_HALF_UP) * tick


def round_amount(amount: Decimal, step: Decimal) -> Decimal:
    return (amount / step).to_integral_value(ROUND_DOWN) * step


def validate_grid(config: GridConfig, market: MarketRules) -> None:
    """Refuse grids that cannot work: the message names the parameter (API: 422)."""
    if not MIN_GRID_COUNT <= config.grid_count <= MAX_GRID_COUNT:
        raise StrategyConfigError(
            f"grid_count must be between {MIN_GRID_COUNT} and {MAX_GRID_COUNT}"
        )
    if config.lower_price <= 0 or config.upper_price <= config.lower_price:
        raise StrategyConfigError("upper_price must be above lower_price, both positive")
    if (config.investment is None) == (config.quote_per_grid is None):
        raise StrategyConfigError("give exactly one of investment or quote_per_grid")
    if config.per_grid_quote <= 0:
        raise StrategyConfigError("investment must be positive")
    if config.stop_loss_price is not None and config.stop_loss_price >= config.lower_price:
        raise StrategyConfigError("stop_loss_price must be below lower_price")
    if config.take_profit_price is not None and config.take_profit_price <= config.upper_price:
        raise StrategyConfigError("take_profit_price must be above upper_price")
    if config.trailing_up_limit is not None and config.trailing_up_limit <= config.upper_price:
        raise StrategyConfigError("trailing_up_limit must be above upper_price")
    if config.trailing_down_limit is not None and (
        config.trailing_down_limit >= config.lower_price or config.trailing_down_limit <= 0
    ):
        raise StrategyConfigError("trailing_down_limit must be positive and below lower_price")
    _check_step_beats_fees(config, market)
    _check_market_minimums(config, market)


def _check_step_beats_fees(config: GridConfig, market: MarketRules) -> None:
    # The thinnest round trip is the top step for arithmetic grids (same everywhere for
    # geometric); it must earn more than the two maker fees it pays.
    top = level_price(config, config.grid_count)
    below_top = level_price(config, config.grid_count - 1)
    step_return = top / below_top - 1
    two_fees = 2 * market.maker_fee
    if step_return <= two_fees:
        raise StrategyConfigError(
            f"grid step is {step_return * 100:.4f}% but two fees cost {two_fees * 100:.4f}%: "
            "widen the range or use fewer grids"
        )
    tick_room = round_price(top, market.price_tick) - round_price(below_top, market.price_tick)
    if tick_room <= 0:
        raise StrategyConfigError("grid levels collapse onto the same price tick")


def _check_market_minimums(config: GridConfig, market: MarketRules) -> None:
    per_grid = config.per_grid_quote
    top = level_price(config, config.grid_count)
    # The smallest order is one grid's quote spent at the highest buy level.
    smallest = round_amount(per_grid / top, market.amount_step)
    if smallest < market.min_amount or smallest <= 0:
        raise StrategyConfigError(
            f"each grid order would be {smallest} {market.base}, below the market minimum "
            f"{market.min_amount}: invest more or use fewer grids"
        )
    if smallest * level_price(config, config.grid_count - 1) < market.min_cost:
        raise StrategyConfigError(
            f"each grid order would cost less than the market minimum {market.min_cost} "
            f"{market.quote}: invest more or use fewer grids"
        )
