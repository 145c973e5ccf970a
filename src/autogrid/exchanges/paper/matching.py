"""The paper exchange's arithmetic: the backtest's own functions, applied to stored state.

Balances live per currency; each operation loads the two currencies of the order's market into a
``SimAccount``, lets it lock, release or settle exactly as the backtest engine does, and stores the
result. Fills come from ``match_bar``. Nothing here does I/O: the exchange loads the rows, calls
these functions, and writes the rows back in the same locked transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

from autogrid.core.sqltypes import MONEY_SCALE
from autogrid.exchanges.types import (
    CandleData,
    ExchangeOrderStatus,
    MarketRules,
    OrderType,
    Side,
)
from autogrid.models.paper import PaperOrder
from autogrid.trading.simulation.account import SimAccount
from autogrid.trading.simulation.fills import Bar, SimFill, SimOrder, match_bar

ZERO = Decimal(0)
_SCALE = Decimal(1).scaleb(-MONEY_SCALE)
_WIDE = Context(prec=80)  # quantize needs room for every integer digit plus 18 decimals
# Python's own default context. ccxt's decimal_to_precision rewrites the *thread's* context
# (ROUND_HALF_UP, Underflow trapped) the first time it runs in a process; the paper arithmetic
# must not depend on whether a ccxt connector ran before it.
_STANDARD = Context(
    prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


@contextmanager
def standard_arithmetic() -> Iterator[None]:
    """Decimal arithmetic exactly as in a fresh Python process (where backtests run)."""
    with localcontext(_STANDARD):
        yield


def at_money_scale(value: Decimal) -> Decimal:
    """``value`` as the money columns store it (18 decimals), applied to every value kept.

    Rounding in memory exactly as the database would makes the result independent of how often
    state goes through the database: one big step equals many small ones, and a restart changes
    nothing. Values of real markets have far fewer decimals and are unchanged.
    """
    rounded = value.quantize(_SCALE, context=_WIDE)
    return value if rounded == value else rounded


class Wallet:
    """Free and locked amount per currency, operated on through the backtest's ``SimAccount``."""

    def __init__(
        self,
        balances: Mapping[str, tuple[Decimal, Decimal]],
        *,
        maker_fee: Decimal,
        taker_fee: Decimal,
    ) -> None:
        self.balances = dict(balances)
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.touched: set[str] = set()

    def _get(self, currency: str) -> tuple[Decimal, Decimal]:
        return self.balances.get(currency, (ZERO, ZERO))

    def account_for(self, rules: MarketRules) -> SimAccount:
        base_free, base_locked = self._get(rules.base)
        quote_free, quote_locked = self._get(rules.quote)
        return SimAccount(
            quote_free=quote_free,
            base_free=base_free,
            quote_locked=quote_locked,
            base_locked=base_locked,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
        )

    def keep(self, rules: MarketRules, account: SimAccount) -> None:
        self.balances[rules.base] = (
            at_money_scale(account.base_free),
            at_money_scale(account.base_locked),
        )
        self.balances[rules.quote] = (
            at_money_scale(account.quote_free),
            at_money_scale(account.quote_locked),
        )
        self.touched |= {rules.base, rules.quote}

    def lock(self, rules: MarketRules, order: SimOrder, reference_price: Decimal) -> Decimal:
        """Reserve what the order may spend; raises ``InsufficientBalance`` like the backtest."""
        with standard_arithmetic():
            account = self.account_for(rules)
            locked = account.lock_for(order, reference_price)
            self.keep(rules, account)
            return at_money_scale(locked)

    def release(self, rules: MarketRules, order: SimOrder, locked: Decimal) -> None:
        with standard_arithmetic():
            account = self.account_for(rules)
            account.release(order, locked)
            self.keep(rules, account)


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill of one order, as the paper exchange reports it (fee in the quote currency)."""

    order: PaperOrder
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    is_maker: bool
    ts: datetime  # when it settles: a candle's close (the backtest engine's fill time)
    executed_at: datetime  # when the price was there: that candle's open


def sim_order(order: PaperOrder) -> SimOrder:
    return SimOrder(
        key=order.exchange_order_id,
        side=Side(order.side),
        type=OrderType(order.type),
        amount=order.amount - order.filled,
        price=order.price,
    )


def settle_hit(
    wallet: Wallet,
    order: PaperOrder,
    rules: MarketRules,
    hit: SimFill,
    ts: datetime,
    executed_at: datetime,
) -> Execution | None:
    """Apply one complete fill (clipped, like the backtest, when a gap outran a market buy's
    lock), settled at ``ts`` at a price there from ``executed_at``. Returns None when nothing
    could be bought; the order then ends EXPIRED unfilled."""
    with standard_arithmetic():
        account = wallet.account_for(rules)
        payable = account.affordable(hit, order.locked, rules.amount_step)
        if payable != hit.amount:
            hit = SimFill(hit.key, hit.side, hit.price, payable, hit.is_maker)
        fee = at_money_scale(account.settle(hit, order.locked))
        wallet.keep(rules, account)
        price = at_money_scale(hit.price)
        filled_before = order.filled
        order.filled = filled_before + hit.amount
        if hit.amount > 0:
            paid = (order.average_price or ZERO) * filled_before + price * hit.amount
            order.average_price = at_money_scale(paid / order.filled)
        order.fee = order.fee + fee
        order.fee_currency = rules.quote
        order.locked = ZERO  # settle released the whole reservation, spent or not
        complete = order.filled == order.amount
        order.status = (
            ExchangeOrderStatus.CLOSED if complete else ExchangeOrderStatus.EXPIRED
        ).value
        if hit.amount == 0:
            return None
        return Execution(order, price, hit.amount, fee, rules.quote, hit.is_maker, ts, executed_at)


def match_candle(
    wallet: Wallet,
    orders: Sequence[PaperOrder],
    rules: MarketRules,
    candle: CandleData,
    closed_at: datetime,
    slippage: Decimal,
) -> list[Execution]:
    """Fill the open orders of ``rules.symbol`` that ``candle`` reaches, in the order its path
    meets them. An order rests from the first candle that opens at or after it was placed.
    ``orders`` must be in placement order: it breaks ties exactly as the backtest's book does.

    Every fill settles at ``closed_at`` and is executed at the candle's open: a market order (or
    a limit order the candle opened beyond) paid that open; a limit order reached inside the
    candle carries the same time, as a candle does not say when within it the price passed
    (the backtest's results stamp their fills the same way)."""
    eligible = [
        order
        for order in orders
        if order.symbol == rules.symbol
        and order.status == ExchangeOrderStatus.OPEN
        and order.placed_at <= candle.ts
    ]
    if not eligible:
        return []
    by_key = {order.exchange_order_id: order for order in eligible}
    bar = Bar(candle.open, candle.high, candle.low, candle.close)
    with standard_arithmetic():  # a market order's price: the open moved by the slippage
        hits = match_bar([sim_order(order) for order in eligible], bar, slippage)
    executions = []
    for hit in hits:
        execution = settle_hit(wallet, by_key[hit.key], rules, hit, closed_at, candle.ts)
        if execution is not None:
            executions.append(execution)
    return executions


def fill_at_price(
    wallet: Wallet, order: PaperOrder, rules: MarketRules, price: Decimal, ts: datetime
) -> Execution | None:
    """Fill a market order at once at ``price`` (live prices): a flat bar through ``match_bar``,
    so the taker fee and the settlement are the backtest's."""
    flat = Bar(price, price, price, price)
    [hit] = match_bar([sim_order(order)], flat, ZERO)
    return settle_hit(wallet, order, rules, hit, ts, ts)
