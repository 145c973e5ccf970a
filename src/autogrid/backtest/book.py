"""The backtest engine's resting orders, indexed by price so each candle touches only what it can.

Orders are kept in placement order (their sequence number), which is the tie-break of the fill
path, and in two price-sorted lists: buys ascending, sells ascending. A candle can only fill buys
priced at or above ``min(open, low)`` and sells at or below ``max(open, high)``, which bisection
finds without looking at the other orders.

Prices are compared as floats here and exactly (``Decimal``) in ``match_bar``. The float filter
never drops an order the exact test would fill: a candle's float converts to the decimal it came
from and back unchanged, and correctly rounded conversion is monotonic, so
``Decimal(low) <= price`` implies ``low <= float(price)``. The filter can only let through an
order whose exact test then says no.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from decimal import Decimal

from autogrid.exchanges.types import OrderType, Side
from autogrid.trading.simulation.fills import SimOrder
from autogrid.trading.strategies.base import RestingOrder

# (float price, sequence, tag): unique, so removal finds the exact entry by bisection.
_Key = tuple[float, int, str]
# Enum members bound once: on Python 3.11 each ``Side.BUY`` goes through EnumType.__getattr__,
# a cost the backtest's hot loop pays dozens of times per trade.
_BUY = Side.BUY
_MARKET = OrderType.MARKET


@dataclass(slots=True)
class LiveOrder:
    resting: RestingOrder
    sim: SimOrder
    locked: Decimal
    sequence: int
    scan_price: float  # the limit price as a float, for filtering and vectorised scans only

    @property
    def key(self) -> _Key:
        return (self.scan_price, self.sequence, self.sim.key)


@dataclass(slots=True)
class OrderBook:
    orders: dict[str, LiveOrder] = field(default_factory=dict)
    buys: list[_Key] = field(default_factory=list)
    sells: list[_Key] = field(default_factory=list)
    markets: list[str] = field(default_factory=list)
    resting: dict[str, RestingOrder] = field(default_factory=dict)  # the strategy's view
    next_sequence: int = 0
    _views: tuple[RestingOrder, ...] | None = None

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, resting: RestingOrder, sim: SimOrder, locked: Decimal) -> None:
        market = sim.type is _MARKET
        scan_price = math.nan if market or sim.price is None else float(sim.price)
        live = LiveOrder(resting, sim, locked, self.next_sequence, scan_price)
        self.next_sequence += 1
        self.orders[sim.key] = live
        self.resting[sim.key] = resting
        if market:
            self.markets.append(sim.key)
        else:
            insort(self.buys if sim.side is _BUY else self.sells, live.key)
        self._views = None

    def pop(self, tag: str) -> LiveOrder | None:
        live = self.orders.pop(tag, None)
        if live is None:
            return None
        del self.resting[tag]
        if live.sim.type is _MARKET:
            self.markets.remove(tag)
        else:
            keys = self.buys if live.sim.side is _BUY else self.sells
            del keys[bisect_left(keys, live.key)]
        self._views = None
        return live

    def views(self) -> tuple[RestingOrder, ...]:
        """What the strategy sees, in placement order (cached until the book changes)."""
        if self._views is None:
            self._views = tuple(self.resting.values())
        return self._views

    @property
    def best_buy(self) -> float:
        return self.buys[-1][0] if self.buys else -math.inf

    @property
    def best_sell(self) -> float:
        return self.sells[0][0] if self.sells else math.inf

    def reachable(self, reach_low: float, reach_high: float) -> list[LiveOrder]:
        """Orders a candle spanning [reach_low, reach_high] may fill, in placement order."""
        orders = self.orders
        found = [orders[tag] for tag in self.markets]
        buys, sells = self.buys, self.sells
        if not buys and not sells:
            return found  # market orders only (indicator bots): already in placement order
        found.extend(orders[key[2]] for key in buys[bisect_left(buys, (reach_low,)) :])
        found.extend(orders[key[2]] for key in sells[: bisect_right(sells, (reach_high, math.inf))])
        if len(found) > 1:
            found.sort(key=_sequence)
        return found


def _sequence(live: LiveOrder) -> int:
    return live.sequence
