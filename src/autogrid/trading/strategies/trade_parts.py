"""Pieces the signal bot and the smart trade share: one long spot position folded from its
fills, an entry zone split into limit prices, the market's minimums as a refusal reason, and
the cancelling of resting orders with the balances it frees.

A long position at average cost: a buy adds its base (net of a fee charged in base) at its cost
(price x amount plus a quote fee); a sell takes out base at the average cost and books what it
received against it. What a sell leaves below the market's minimums is dust nobody can sell: the
position counts as closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.strategies.base import Action, CancelOrder, Snapshot, StrategyFill
from autogrid.trading.strategies.grid_config import round_price

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Holding:
    amount: Decimal = ZERO  # base held (net of base fees)
    cost: Decimal = ZERO  # quote paid for it, fees included
    realized_pnl: Decimal = ZERO
    fees_quote: Decimal = ZERO  # every fee, valued in quote

    def after(self, fill: StrategyFill, market: MarketRules) -> Holding:
        """The position once ``fill`` is folded in."""
        fees = self.fees_quote + fill.fee_quote + fill.fee_base * fill.price
        if fill.side is Side.BUY:
            return Holding(
                self.amount + fill.amount - fill.fee_base,
                self.cost + fill.price * fill.amount + fill.fee_quote,
                self.realized_pnl,
                fees,
            )
        sold = min(fill.amount, self.amount)
        share = sold / self.amount if self.amount > 0 else Decimal(1)
        sold_cost = self.cost * share
        received = fill.price * fill.amount - fill.fee_quote
        left = self.amount - sold
        dust = left < market.min_amount or left < market.amount_step
        return Holding(
            ZERO if dust else left,
            ZERO if dust else self.cost - sold_cost,
            self.realized_pnl + received - sold_cost,
            fees,
        )


def zone_prices(low: Decimal, high: Decimal, count: int, tick: Decimal) -> list[Decimal]:
    """``count`` limit prices spread evenly from the zone's top to its bottom (one: its middle)."""
    if count == 1 or high == low:
        return [round_price((low + high) / 2, tick)]
    gap = (high - low) / (count - 1)
    return [round_price(high - gap * i, tick) for i in range(count)]


def below_minimums(amount: Decimal, price: Decimal, market: MarketRules) -> str | None:
    """Why an order of ``amount`` at ``price`` cannot be placed, or None if it can."""
    if amount <= 0 or amount < market.min_amount:
        return f"amount {amount} is below the market minimum {market.min_amount}"
    if amount * price < market.min_cost:
        return f"cost {amount * price} is below the market minimum {market.min_cost}"
    return None


def cancel_resting(
    snapshot: Snapshot, tags: Iterable[str], actions: list[Action]
) -> tuple[Decimal, Decimal]:
    """Cancel each of ``tags`` still resting (in tag order, so decisions are reproducible),
    appending to ``actions``; the base and quote the cancels free for the same decision."""
    freed_base = freed_quote = ZERO
    for tag in sorted(tags):
        resting = snapshot.order(tag)
        if resting is None:
            continue
        actions.append(CancelOrder(tag))
        if resting.side is Side.SELL:
            freed_base += resting.remaining
        elif resting.price is not None:
            freed_quote += resting.remaining * resting.price
    return freed_base, freed_quote
