"""Take-profit steps as limit sells: their amounts never add up to more than the position."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from autogrid.exchanges.types import MarketRules
from autogrid.signals.model import TakeProfit
from autogrid.trading.strategies.grid_config import round_amount, round_price

HUNDRED = Decimal(100)
ZERO = Decimal(0)


def target_orders(
    steps: Sequence[TakeProfit], held: Decimal, market: MarketRules
) -> list[tuple[Decimal, Decimal | None]]:
    """(price, amount) per step; amount None for a step below the market's minimums.

    A step without a share gets an even part of what the shared steps leave; the last of those
    takes the rounding remainder, so an even split sells the whole position. Shares adding up to
    more than 100 are cut where the position runs out.
    """
    if held <= 0 or not steps:
        return []
    given = sum((step.share_percent for step in steps if step.share_percent is not None), ZERO)
    even = [step for step in steps if step.share_percent is None]
    even_share = max(ZERO, HUNDRED - given) / len(even) if even else ZERO
    last_even = even[-1] if even else None
    left = held
    orders: list[tuple[Decimal, Decimal | None]] = []
    for step in steps:
        price = round_price(step.price, market.price_tick)
        share = even_share if step.share_percent is None else step.share_percent
        amount = round_amount(min(left, held * share / HUNDRED), market.amount_step)
        if step is last_even and given < HUNDRED:
            amount = round_amount(left, market.amount_step)
        if amount <= 0 or amount < market.min_amount or amount * price < market.min_cost:
            orders.append((price, None))
            continue
        orders.append((price, amount))
        left -= amount
    return orders
