"""Closed trades from a backtest's fills: each sale closed against the buys it belongs to.

One closed trade per sell fill (per deal for DCA, below). Its entry price is the amount-weighted
price of the buys (or parts of buys) it closes and its entry time the oldest of them (times are
the fills' own: results stamp each with the open time of the candle it filled in); its P&L is
what the sale brought after its fee minus what those buys cost with their share of the buy fees.

Which buys a sale closes is the strategy's own round trip, read from the order tags:

* **grid**: a sell at level ``i`` (``S<i>``) closes the buy of the level below (``B<i-1>``), the
  grid's buy-one-level-down, sell-one-level-up cycle; never a buy at another level that merely
  came earlier (pairing across levels made a grid whose every cycle was profitable look like it
  lost four trades in ten);
* **DCA**: a deal's sales (``D<n>.TP..``, ``D<n>.EXIT..``) close that deal's base and safety
  orders (``D<n>.BO``, ``D<n>.SO<k>``), and the deal is one closed trade however many sales it
  took (a take-profit and a safety order filling in the same candle leave a second sale): its
  prices amount-weighted, its entry the first buy, its exit the last sale;
* **indicator**: an exit (``X<n>``) closes its entry (``E<n>``).

Base no round trip owns: what was held at the start (``initial_base``, an open lot bought at the
first close with no fee) and a neutral grid's initial market buy (``INIT``), which stocks every
level above the price at once. Each sale closes, in this order: its own round trip's buys
(oldest first), then that unowned base (oldest first), then, should that still not cover it, the
dearest other open buys (inventory a grid trailing down moved to a lower level, a stop's sale of
everything): the dearest first, so an ambiguous pairing never flatters the win rate. Fills whose
tags follow none of these patterns (a scripted strategy) are all unowned: plain FIFO.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from itertools import repeat
from operator import attrgetter, is_, itemgetter, mul, ne, sub
from typing import Any, TypeVar

from autogrid.backtest.engine import TradeRecord
from autogrid.exchanges.types import Side

ZERO = Decimal(0)
_BUY = Side.BUY
_SIDE, _TAG, _AMOUNT = attrgetter("side"), attrgetter("tag"), attrgetter("amount")
_PRICE, _FEE = attrgetter("price"), attrgetter("fee")


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


POOL = ""  # base no round trip owns
_KIND = itemgetter(slice(0, 1))  # a round trip's kind: its first letter ("" for POOL)
_OWN_KINDS = frozenset((POOL, "D"))  # round trips the paired shortcut does not take


@lru_cache(maxsize=1 << 16)
def round_trip_of(tag: str) -> str:
    """The round trip a fill belongs to: the open lots a buy adds to or a sale closes first.

    The tags: ``B<level>``/``S<level>`` (grid), ``D<deal>.<order>`` (DCA), ``E<n>``/``X<n>``
    (indicator); anything else is unowned. Read by hand: twice per closed trade, a regular
    expression was most of the cost of pairing a sweep run's trades. Remembered: a sweep's runs
    use the same few tags (a grid's levels, ``E1``... an indicator's trades) again and again,
    and reading them was still a third of pairing a run's trades."""
    kind, rest = tag[:1], tag[1:]
    if kind in ("B", "S") and rest.isdecimal():
        # A buy at level i stocks the sell one level up: both name level i + 1's lot.
        level = int(rest)
        return f"L{level + 1 if kind == 'B' else level}"
    if kind in ("E", "X") and rest.isdecimal():
        return f"T{rest}"
    if kind == "D":
        deal, dot, after = rest.partition(".")
        if dot and after and "\n" not in after and deal.isdecimal():
            return f"D{deal}"
    return POOL


@dataclass(slots=True, eq=False)  # compared by identity: two lots may look alike
class _OpenLot:
    time: datetime
    price: Decimal
    amount: Decimal  # still open
    bought: Decimal  # at the fill, for the fee share
    fee: Decimal


@dataclass(slots=True)
class _Closing:
    """What one sale has closed so far."""

    wanted: Decimal
    notional: Decimal = ZERO
    buy_fees: Decimal = ZERO
    entry_time: datetime | None = None

    def take(self, lots: deque[_OpenLot]) -> None:
        """Close the lots from the oldest until the sale is covered; emptied lots leave."""
        while self.wanted > 0 and lots:
            lot = lots[0]
            taken = min(self.wanted, lot.amount)
            if self.entry_time is None or lot.time < self.entry_time:
                self.entry_time = lot.time
            self.notional += taken * lot.price
            self.buy_fees += lot.fee if taken == lot.bought else lot.fee * taken / lot.bought
            lot.amount -= taken
            self.wanted -= taken
            if lot.amount == 0:
                lots.popleft()


# A sale paired with what it closed: (the sell fill, its round trip, what it closed).
_Sale = tuple[TradeRecord, str, _Closing]


def closed_trades(
    fills: Iterable[TradeRecord],
    *,
    initial_base: Decimal = ZERO,
    start_price: Decimal = ZERO,
    start_time: datetime | None = None,
) -> list[ClosedTrade]:
    sales = _sales(fills, initial_base, start_price, start_time)
    return _deals_folded(sales, _closed_trade, _fold)


def closed_pnls(
    fills: Iterable[TradeRecord],
    *,
    initial_base: Decimal = ZERO,
    start_price: Decimal = ZERO,
    start_time: datetime | None = None,
) -> list[Decimal]:
    """The P&L of each of ``closed_trades``, in order and to the same digit (the same pairing,
    the same fold and the same operations), without making the trades: what a sweep's run
    ranks by."""
    if isinstance(fills, Sequence):
        paired = _paired_pnls(fills)
        if paired is not None:
            return paired
    sales = _sales(fills, initial_base, start_price, start_time)
    return _deals_folded(sales, _pnl, _add_pnls)


def _paired_pnls(fills: Sequence[TradeRecord]) -> list[Decimal] | None:
    """``closed_pnls`` of fills that alternate one buy and one sale of that very amount in the
    same round trip (neither a DCA deal nor unowned base): an indicator bot's ``E<n>``, ``X<n>``
    (a last buy may stay open). Each sale then closes exactly the lot its buy opened, the case
    ``_close`` takes first, and its P&L is made by the same operations in the same order, with
    no lot, closing or generator per trade (they were most of a sweep run's figures). None for
    any other sequence: the general pairing makes those.

    Checked column by column (sides, round trips, amounts), each in one pass at C speed (no
    Python step per fill): a sale-by-sale loop's tests cost more than the P&L arithmetic."""
    buys, sales = fills[0::2], fills[1::2]  # as many, or one more buy: the last one open
    if not all(map(is_, map(_SIDE, buys), repeat(_BUY))) or any(
        map(is_, map(_SIDE, sales), repeat(_BUY))
    ):
        return None  # a buy after a buy, or a sale with nothing bought
    if not _indicator_trips(sales, buys):
        sale_keys = list(map(round_trip_of, map(_TAG, sales)))
        if sale_keys != list(map(round_trip_of, map(_TAG, buys[: len(sales)]))):
            return None
        if not _OWN_KINDS.isdisjoint(map(_KIND, sale_keys)):
            return None  # unowned base (POOL) or a DCA deal's
    amounts = list(map(_AMOUNT, sales))
    # ``!=`` one by one (a list's ``==`` would take one NaN object as equal to itself).
    if any(map(ne, amounts, map(_AMOUNT, buys))) or (amounts and not min(amounts) > 0):
        return None
    # ``_close``'s exact case: fee whole, notional at the buy's price, the sale's amount. Each
    # trade's ``sale.price * sale.amount - sale.fee - (ZERO + sale.amount * buy.price) -
    # (ZERO + buy.fee)``, the same operations on the same operands, column by column: mapped in
    # C, with no Python step per trade (a sweep run's trades made this most of its P&L). A
    # last buy left open is not read (``map`` stops at the sales' end).
    proceeds = map(sub, map(mul, map(_PRICE, sales), amounts), map(_FEE, sales))
    costs = map(ZERO.__add__, map(mul, amounts, map(_PRICE, buys)))
    after_cost = map(sub, proceeds, costs)
    return list(map(sub, after_cost, map(ZERO.__add__, map(_FEE, buys))))


def _indicator_trips(sales: Sequence[TradeRecord], buys: Sequence[TradeRecord]) -> bool:
    """Whether each sale is ``X<n>`` and the buy before it ``E<n>`` (``n`` decimal digits): the
    same round trip (``T<n>``) for ``round_trip_of``, an owned one. False says nothing: the
    round trips are then compared one by one.

    Read on the tags joined, one per line, by a few string operations in C: a lookup per tag
    was a fifth of pairing an indicator run's trades."""
    count = len(sales)
    buy_text = "\n" + "\n".join(map(_TAG, buys[:count]))
    # No tag holds a line break (each line is one tag), and every buy's starts with E.
    if count == 0 or buy_text.count("\n") != count or buy_text.count("\nE") != count:
        return False
    # The sales' lines are the buys' with X for E: one tag each, X and the buy's number.
    if "\n" + "\n".join(map(_TAG, sales)) != buy_text.replace("\nE", "\nX"):
        return False
    numbers = buy_text.replace("\nE", "\n")
    # Each number has a digit (no empty line), and all are digits.
    return "\n\n" not in numbers + "\n" and numbers.replace("\n", "").isdecimal()


_Item = TypeVar("_Item")


def _deals_folded(
    sales: Iterable[_Sale],
    item_of: Callable[[TradeRecord, _Closing], _Item],
    fold: Callable[[_Item, _Item], _Item],
) -> list[_Item]:
    """One item per sale, but one per DCA deal: a deal's later sales fold into the item of its
    first sale, where that one was. The one fold of both ``closed_trades`` and ``closed_pnls``,
    so the two cannot pair or order differently."""
    items: list[_Item] = []
    deal_at: dict[str, int] = {}
    for sell, key, closing in sales:
        item = item_of(sell, closing)
        at = deal_at.get(key) if key.startswith("D") else None
        if at is None:
            deal_at[key] = len(items)
            items.append(item)
        else:
            items[at] = fold(items[at], item)
    return items


def _sales(
    fills: Iterable[TradeRecord],
    initial_base: Decimal,
    start_price: Decimal,
    start_time: datetime | None,
) -> Iterator[_Sale]:
    """Each sale with what it closed (see the module for which buys those are)."""
    open_lots: dict[str, deque[_OpenLot]] = {POOL: deque()}
    if initial_base > 0 and start_time is not None:
        open_lots[POOL].append(_OpenLot(start_time, start_price, initial_base, initial_base, ZERO))
    for fill in fills:
        if fill.side is Side.BUY:
            lot = _OpenLot(fill.ts, fill.price, fill.amount, fill.amount, fill.fee)
            key = round_trip_of(fill.tag)
            own = open_lots.get(key)
            if own is None:
                own = open_lots[key] = deque()
            own.append(lot)
        elif fill.amount > 0:
            key = round_trip_of(fill.tag)
            yield fill, key, _close(open_lots, key, fill)


def _add_pnls(first: Decimal, later: Decimal) -> Decimal:
    return first + later  # as ``_fold`` adds a deal's P&L


def _fold(first: ClosedTrade, later: ClosedTrade) -> ClosedTrade:
    amount = first.amount + later.amount
    return ClosedTrade(
        entry_time=min(first.entry_time, later.entry_time),
        exit_time=later.exit_time,
        entry_price=(first.entry_price * first.amount + later.entry_price * later.amount) / amount,
        exit_price=(first.exit_price * first.amount + later.exit_price * later.amount) / amount,
        amount=amount,
        pnl=_add_pnls(first.pnl, later.pnl),
        fees=first.fees + later.fees,
        exit_tag=later.exit_tag,
    )


def _close(open_lots: dict[str, deque[_OpenLot]], key: str, sell: TradeRecord) -> _Closing:
    own = open_lots.get(key)
    if own and own[0].amount == sell.amount:
        # Most sales close exactly their round trip's oldest open lot: ``take``'s arithmetic for
        # that case, without its loop (a sweep pairs every run's trades).
        lot = own.popleft()
        fee = lot.fee if sell.amount == lot.bought else lot.fee * sell.amount / lot.bought
        return _Closing(ZERO, ZERO + sell.amount * lot.price, ZERO + fee, lot.time)
    closing = _Closing(sell.amount)
    if own is not None:
        closing.take(own)
    closing.take(open_lots[POOL])
    if closing.wanted > 0:
        _take_dearest(open_lots, closing)
    if closing.wanted > 0:
        # More sold than ever bought cannot happen on a spot account; should it, the excess is
        # treated as bought at the sale price so it adds no imaginary profit.
        closing.notional += closing.wanted * sell.price
    return closing


def _pnl(sell: TradeRecord, closing: _Closing) -> Decimal:
    proceeds = sell.price * sell.amount - sell.fee
    return proceeds - closing.notional - closing.buy_fees


def _closed_trade(sell: TradeRecord, closing: _Closing) -> ClosedTrade:
    return ClosedTrade(
        entry_time=closing.entry_time or sell.ts,
        exit_time=sell.ts,
        entry_price=closing.notional / sell.amount,
        exit_price=sell.price,
        amount=sell.amount,
        pnl=_pnl(sell, closing),
        fees=closing.buy_fees + sell.fee,
        exit_tag=sell.tag,
    )


def _take_dearest(open_lots: dict[str, deque[_OpenLot]], closing: _Closing) -> None:
    """Close other round trips' lots, the dearest first (a rare path: a trailing grid's moved
    inventory, a stop selling everything)."""
    others = sorted(
        ((lot, lots) for lots in open_lots.values() for lot in lots),
        key=lambda pair: pair[0].price,
        reverse=True,
    )
    for lot, lots in others:
        if closing.wanted <= 0:
            break
        single = deque([lot])
        closing.take(single)
        if not single:
            lots.remove(lot)
