"""Pieces the signal bot and the smart trade share: one long spot position folded from its
fills, an entry zone split into limit prices, an entry's orders sized within the free quote,
take-profit steps sized on the position, the market's minimums as a refusal reason (the DCA
deal's orders check theirs with it too), and the cancelling of resting orders with the balances
it frees.

A long position at average cost: a buy adds its base (net of a fee charged in base) at its cost
(price x amount plus a quote fee); a sell takes out base at the average cost and books what it
received against it. What a sell leaves below the market's minimums is dust nobody can sell: the
position counts as closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from autogrid.exchanges.types import MarketRules, Side
from autogrid.signals.model import TakeProfit
from autogrid.trading.strategies.base import Action, CancelOrder, Snapshot, StrategyFill
from autogrid.trading.strategies.grid_config import round_amount, round_price

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Refused(Exception):
    """What the strategy was asked cannot be placed; the message is the reason it records."""


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


@dataclass(frozen=True, slots=True)
class EntryOrders:
    orders: tuple[tuple[Decimal | None, Decimal], ...]  # (limit price, None at market; amount)
    cost: Decimal  # the quote they take, fees included


def entry_orders(
    prices: Sequence[Decimal | None],
    total: Decimal,
    *,
    in_base: bool,
    price: Decimal,
    free_quote: Decimal,
    market: MarketRules,
) -> EntryOrders:
    """An entry of ``total`` (base if ``in_base``, else quote, fees included) split evenly over
    ``prices`` (None: at market, at ``price``), each amount rounded to the market; raises
    ``Refused`` if one is below the market's minimums or they cost more than ``free_quote``."""
    fee = market.taker_fee if list(prices) == [None] else market.maker_fee
    orders: list[tuple[Decimal | None, Decimal]] = []
    for limit in prices:
        at = price if limit is None else limit
        share = total / len(prices)
        amount = round_amount(share if in_base else share / (at * (1 + fee)), market.amount_step)
        refusal = below_minimums(amount, at, market)
        if refusal is not None:
            raise Refused(refusal)
        orders.append((limit, amount))
    cost = sum(((price if p is None else p) * a * (1 + fee) for p, a in orders), ZERO)
    if cost > free_quote:
        raise Refused(f"the entry needs {cost:.8f} {market.quote}; the free quote is {free_quote}")
    return EntryOrders(tuple(orders), cost)


def step_shares(steps: Sequence[TakeProfit]) -> list[Decimal]:
    """Each take-profit step's share of what was bought, in percent: a step without one gets an
    even part of what the given shares leave."""
    given = sum((step.share_percent or ZERO for step in steps), ZERO)
    even = sum(1 for step in steps if step.share_percent is None)
    rest = max(ZERO, HUNDRED - given) / even if even else ZERO
    return [rest if step.share_percent is None else step.share_percent for step in steps]


def take_profit_orders(
    steps: Sequence[TakeProfit],
    held: Decimal,
    market: MarketRules,
    done: frozenset[int] = frozenset(),
) -> list[tuple[int, Decimal, Decimal | None]]:
    """(step, price, amount) for each step not ``done`` (filled already), sized on what is
    ``held``: the steps left share what the done ones did not take. Amount None: below the
    market's minimums. When the shares cover the whole position the last step takes the
    rounding remainder; shares adding up to more than 100 are cut where the position runs out:
    in every case the amounts add up to at most ``held``."""
    shares = step_shares(steps)
    left_share = HUNDRED - sum((shares[i] for i in done if i < len(shares)), ZERO)
    todo = [i for i in range(len(steps)) if i not in done]
    if held <= 0 or not todo or left_share <= 0:
        return []
    # Steps without a share split all the given ones leave: then too the shares cover the
    # whole position (their sum, in Decimal thirds, may fall short of 100 by a hair).
    whole = any(step.share_percent is None for step in steps) or sum(shares, ZERO) >= HUNDRED
    left = held
    orders: list[tuple[int, Decimal, Decimal | None]] = []
    for i in todo:
        price = round_price(steps[i].price, market.price_tick)
        wanted = left if whole and i == todo[-1] else held * shares[i] / left_share
        amount = round_amount(min(left, wanted), market.amount_step)
        if below_minimums(amount, price, market) is not None:
            orders.append((i, price, None))
            continue
        orders.append((i, price, amount))
        left -= amount
    return orders


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
