"""How resting orders fill against one candle.

The intra-candle path is: open, then the nearer extreme, then the other extreme, then close (a tie
goes down first, the conservative choice for a long book). Along that path:

* a market order placed before the candle fills at the open, moved against us by the slippage;
* a limit buy fills when the path reaches its price: at the open if the candle opens at or below
  it, else at its own price; a limit sell mirrors that. Limit fills pay the maker fee, market fills
  the taker fee;
* orders fill in the order the path meets them, so fills carry a meaningful sequence.

Orders placed by the strategy after seeing a candle only rest from the next candle on: the same
rule applies to backtests and paper replay, which is what makes them agree trade for trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autogrid.exchanges.types import OrderType, Side

# Enum members bound once: on Python 3.11 each ``Side.BUY`` goes through EnumType.__getattr__,
# a cost the backtest's hot loop pays dozens of times per trade.
_BUY = Side.BUY
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle in exact decimals (converted from floats at the simulator's edge)."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    @property
    def goes_down_first(self) -> bool:
        return self.open - self.low <= self.high - self.open


@dataclass(frozen=True, slots=True)
class SimOrder:
    key: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None  # None for market orders


@dataclass(frozen=True, slots=True)
class SimFill:
    key: str
    side: Side
    price: Decimal
    amount: Decimal
    is_maker: bool


def fill_price(order: SimOrder, bar: Bar, slippage: Decimal) -> Decimal | None:
    """The price at which ``order`` fills during ``bar``, or None if the path never reaches it."""
    if order.type is _MARKET:
        factor = 1 + slippage if order.side is _BUY else 1 - slippage
        return bar.open * factor
    assert order.price is not None
    if order.side is _BUY:
        if bar.open <= order.price:
            return bar.open
        return order.price if bar.low <= order.price else None
    if bar.open >= order.price:
        return bar.open
    return order.price if bar.high >= order.price else None


def _path_position(order: SimOrder, price: Decimal, bar: Bar) -> tuple[int, Decimal]:
    """Sort key: when along the path the order is reached (segment, then distance within it)."""
    if order.type is _MARKET or price == bar.open:
        return (0, Decimal(0))
    down_first = bar.goes_down_first
    if order.side is _BUY:
        # reached while falling: on the first leg if the path goes down first, else on the third
        segment = 1 if down_first else 2
        return (segment, bar.open - price if down_first else bar.high - price)
    segment = 2 if down_first else 1
    return (segment, price - bar.low if down_first else price - bar.open)


def match_bar(orders: list[SimOrder], bar: Bar, slippage: Decimal) -> list[SimFill]:
    """Every order the candle fills, in the order its path meets them (each fills completely)."""
    if len(orders) == 1:  # the common case in backtests: nothing to order
        order = orders[0]
        price = fill_price(order, bar, slippage)
        if price is None:
            return []
        return [SimFill(order.key, order.side, price, order.amount, order.type is _LIMIT)]
    hits: list[tuple[tuple[int, Decimal], int, SimFill]] = []
    for sequence, order in enumerate(orders):
        price = fill_price(order, bar, slippage)
        if price is None:
            continue
        fill = SimFill(order.key, order.side, price, order.amount, order.type is _LIMIT)
        hits.append((_path_position(order, price, bar), sequence, fill))
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    return [fill for _, _, fill in hits]
