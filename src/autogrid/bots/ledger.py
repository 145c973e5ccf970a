"""A bot's trading results from its fills: position, average entry, realized and unrealized P&L.

Pure and exact (Decimal). Average cost: a buy adds its base (net of a fee charged in base) at its
cost (price x amount plus a fee charged in quote); a sell realizes its proceeds (net of a quote
fee) against the average cost of the base it takes out. Base sold beyond what the bot bought
(a starting balance) has no known cost: its proceeds count as neither profit nor loss. Fees in a
third currency (BNB discounts) cannot be valued here and are left out.

Realized plus unrealized equals everything received minus everything paid plus the position at
the current price, whatever the order the fills are folded in: the loss breaker relies on that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import Any, Protocol

from autogrid.bots.state import BotState

ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_SCALE = Decimal(1).scaleb(-18)  # NUMERIC(38, 18): what the database keeps


def _q(value: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return value.quantize(_SCALE)


class LedgerFill(Protocol):
    """What the ledger reads of a fill (a ``fills`` row, or an inbox entry)."""

    @property
    def side(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def fee_currency(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Ledger:
    position: Decimal = ZERO  # base the bot holds from its own trades
    cost: Decimal = ZERO  # what that base cost, fees included
    realized: Decimal = ZERO
    fees: Decimal = ZERO  # every fee valued in quote (base fees at their fill's price)
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    volume: Decimal = ZERO  # quote traded, before fees
    buys: int = 0
    sells: int = 0

    @property
    def trades(self) -> int:
        return self.buys + self.sells

    def with_fills(self, fills: Iterable[LedgerFill], symbol: str) -> Ledger:
        """This ledger with ``fills`` (of ``symbol``'s market) added in order."""
        base, quote = split_symbol(symbol)
        ledger = self
        for fill in fills:
            ledger = ledger.add_fill(fill, base, quote)
        return ledger

    def add_fill(self, fill: LedgerFill, base: str, quote: str) -> Ledger:
        """This ledger with one ``fill`` of the ``base``/``quote`` market added."""
        return self.add(
            side=fill.side,
            price=fill.price,
            amount=fill.amount,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            base=base,
            quote=quote,
        )

    def add(
        self,
        *,
        side: str,
        price: Decimal,
        amount: Decimal,
        fee: Decimal,
        fee_currency: str | None,
        base: str,
        quote: str,
    ) -> Ledger:
        fee_quote = fee if fee_currency == quote else ZERO
        fee_base = fee if fee_currency == base else ZERO
        notional = price * amount
        fees = self.fees + fee_quote + fee_base * price
        volume = self.volume + notional
        if side == "buy":
            return replace(
                self,
                position=self.position + amount - fee_base,
                cost=self.cost + notional + fee_quote,
                fees=fees,
                bought=self.bought + amount,
                volume=volume,
                buys=self.buys + 1,
            )
        taken = amount + fee_base
        covered = min(taken, max(self.position, ZERO))
        with localcontext() as ctx:
            ctx.prec = 80
            basis = self.cost * covered / self.position if covered > 0 else ZERO
            proceeds = (notional - fee_quote) * covered / taken if taken > 0 else ZERO
        basis, proceeds = _q(basis), _q(proceeds)
        position = self.position - covered
        return replace(
            self,
            position=position,
            cost=self.cost - basis if position > 0 else ZERO,
            realized=self.realized + proceeds - basis,
            fees=fees,
            sold=self.sold + amount,
            volume=volume,
            sells=self.sells + 1,
        )

    def unrealized(self, price: Decimal | None) -> Decimal:
        if price is None or self.position == 0:
            return ZERO
        return self.position * price - self.cost

    def total_pnl(self, price: Decimal | None) -> Decimal:
        return self.realized + self.unrealized(price)

    @property
    def average_entry(self) -> Decimal | None:
        if self.position <= 0:
            return None
        with localcontext() as ctx:
            ctx.prec = 80
            return _q(self.cost / self.position)

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": str(self.position),
            "cost": str(self.cost),
            "realized": str(self.realized),
            "fees": str(self.fees),
            "bought": str(self.bought),
            "sold": str(self.sold),
            "volume": str(self.volume),
            "buys": self.buys,
            "sells": self.sells,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Ledger:
        if not data:
            return cls()
        return cls(
            position=Decimal(data["position"]),
            cost=Decimal(data["cost"]),
            realized=Decimal(data["realized"]),
            fees=Decimal(data["fees"]),
            bought=Decimal(data["bought"]),
            sold=Decimal(data["sold"]),
            volume=Decimal(data["volume"]),
            buys=int(data["buys"]),
            sells=int(data["sells"]),
        )


def roi_pct(pnl: Decimal, investment: Decimal | None) -> Decimal | None:
    if investment is None or investment <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 80
        return _q(pnl / investment * _HUNDRED)


def split_symbol(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote


def investment_of(bot_investment: Decimal | None, state: BotState) -> Decimal | None:
    """What a bot's P&L is measured against: its investment, else its equity at the start."""
    if bot_investment is not None and bot_investment > 0:
        return bot_investment
    start = state.start_equity
    return Decimal(start) if start else None
