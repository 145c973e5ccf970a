"""A simulated spot account: free and locked balances, fees charged in the quote currency."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from autogrid.exchanges.types import OrderType, Side
from autogrid.trading.simulation.fills import SimFill, SimOrder

ZERO = Decimal(0)
MARKET_BUY_MARGIN = Decimal("1.05")
# Enum members bound once: on Python 3.11 each ``Side.BUY`` goes through EnumType.__getattr__,
# a cost the backtest's hot loop pays dozens of times per trade.
_BUY, _SELL = Side.BUY, Side.SELL
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT


class InsufficientBalance(Exception):
    """The account cannot lock what the order needs."""


@dataclass(slots=True)
class SimAccount:
    quote_free: Decimal
    base_free: Decimal = ZERO
    quote_locked: Decimal = ZERO
    base_locked: Decimal = ZERO
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    fees_paid: Decimal = ZERO

    @property
    def quote_total(self) -> Decimal:
        return self.quote_free + self.quote_locked

    @property
    def base_total(self) -> Decimal:
        return self.base_free + self.base_locked

    def lock_for(self, order: SimOrder, reference_price: Decimal) -> Decimal:
        """Reserve what ``order`` may spend; returns the amount locked (quote for buys)."""
        if order.side is _SELL:
            if order.amount > self.base_free:
                raise InsufficientBalance(f"sell {order.amount} exceeds free base {self.base_free}")
            self.base_free -= order.amount
            self.base_locked += order.amount
            return order.amount
        price = order.price if order.type is _LIMIT and order.price else reference_price
        fee = self.maker_fee if order.type is _LIMIT else self.taker_fee
        needed = order.amount * price * (1 + fee)
        if needed > self.quote_free:
            raise InsufficientBalance(f"buy needs {needed} quote, {self.quote_free} free")
        if order.type is _MARKET:
            # A market buy may fill above the reference price (a gap, slippage): hold a margin
            # when the balance allows; ``affordable`` clips the fill if the gap outruns it.
            needed = min(self.quote_free, needed * MARKET_BUY_MARGIN)
        self.quote_free -= needed
        self.quote_locked += needed
        return needed

    def affordable(self, fill: SimFill, locked: Decimal, step: Decimal) -> Decimal:
        """The part of a buy fill the account can pay for (all of it unless a gap outran it)."""
        if fill.side is _SELL:
            return fill.amount
        fee = self.maker_fee if fill.is_maker else self.taker_fee
        cost = fill.price * fill.amount * (1 + fee)
        if cost <= locked + self.quote_free:
            return fill.amount
        payable = (locked + self.quote_free) / (fill.price * (1 + fee))
        return (payable / step).to_integral_value(ROUND_DOWN) * step

    def release(self, order: SimOrder, locked: Decimal) -> None:
        if order.side is _SELL:
            self.base_locked -= locked
            self.base_free += locked
        else:
            self.quote_locked -= locked
            self.quote_free += locked

    def settle(self, fill: SimFill, locked: Decimal) -> Decimal:
        """Apply a complete fill of an order that had ``locked`` reserved; returns the fee."""
        notional = fill.price * fill.amount
        fee = notional * (self.maker_fee if fill.is_maker else self.taker_fee)
        self.fees_paid += fee
        if fill.side is _BUY:
            self.quote_locked -= locked
            self.quote_free += locked - notional - fee
            self.base_free += fill.amount
        else:
            self.base_locked -= locked
            self.quote_free += notional - fee
        return fee
