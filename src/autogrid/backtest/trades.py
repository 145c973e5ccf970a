"""Closed trades from a backtest's fills: each sell closes the oldest open buys first (FIFO).

One closed trade per sell fill. Its entry price is the amount-weighted price of the buys (or parts
of buys) it closes and its entry time the oldest of them; its P&L is what the sale brought after
its fee minus what those buys cost with their share of the buy fees. Base held at the start (a
backtest given ``initial_base``) is an open lot bought at the first close with no fee.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.backtest.engine import TradeRecord
from autogrid.exchanges.types import Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal  # amount-weighted over the buys closed
    exit_price: Decimal
    amount: Decimal
    pnl: Decimal  # after both fees
    fees: Decimal  # the sell's fee and the closed share of the buys' fees
    exit_tag: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_time": iso_utc(self.entry_time),
            "exit_time": iso_utc(self.exit_time),
            "entry_price": plain(self.entry_price),
            "exit_price": plain(self.exit_price),
            "amount": plain(self.amount),
            "pnl": plain(self.pnl),
            "fees": plain(self.fees),
            "exit_tag": self.exit_tag,
        }


def plain(value: Decimal) -> str:
    """Money as the API writes it: ``999.60`` -> ``999.6``, ``1E+3`` -> ``1000``."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        normal = normal.quantize(Decimal(1))
    return f"{normal:f}"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with a Z: ``2025-05-20T00:01:00Z``."""
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class _OpenLot:
    time: datetime
    price: Decimal
    amount: Decimal  # still open
    bought: Decimal  # at the fill, for the fee share
    fee: Decimal


def closed_trades(
    fills: Iterable[TradeRecord],
    *,
    initial_base: Decimal = ZERO,
    start_price: Decimal = ZERO,
    start_time: datetime | None = None,
) -> list[ClosedTrade]:
    lots: deque[_OpenLot] = deque()
    if initial_base > 0 and start_time is not None:
        lots.append(_OpenLot(start_time, start_price, initial_base, initial_base, ZERO))
    closed: list[ClosedTrade] = []
    for fill in fills:
        if fill.side is Side.BUY:
            lots.append(_OpenLot(fill.ts, fill.price, fill.amount, fill.amount, fill.fee))
        elif fill.amount > 0:
            closed.append(_close(lots, fill))
    return closed


def _close(lots: deque[_OpenLot], sell: TradeRecord) -> ClosedTrade:
    wanted = sell.amount
    notional = ZERO
    buy_fees = ZERO
    entry_time = sell.ts
    first = True
    while wanted > 0 and lots:
        lot = lots[0]
        taken = min(wanted, lot.amount)
        if first:
            entry_time, first = lot.time, False
        notional += taken * lot.price
        buy_fees += lot.fee if taken == lot.bought else lot.fee * taken / lot.bought
        lot.amount -= taken
        wanted -= taken
        if lot.amount == 0:
            lots.popleft()
    if wanted > 0:
        # More sold than ever bought cannot happen on a spot account; should it, the excess is
        # treated as bought at the sale price so it adds no imaginary profit.
        notional += wanted * sell.price
    entry_price = notional / sell.amount
    proceeds = sell.price * sell.amount - sell.fee
    pnl = proceeds - notional - buy_fees
    return ClosedTrade(
        entry_time=entry_time,
        exit_time=sell.ts,
        entry_price=entry_price,
        exit_price=sell.price,
        amount=sell.amount,
        pnl=pnl,
        fees=buy_fees + sell.fee,
        exit_tag=sell.tag,
    )
