"""Account-level limits: may this entry go out, given what the user's bots did today? Pure.

A user sets at most four limits over all their bots (``AccountLimits``; None = no limit). The
caller reads the figures they are checked against once per decision, inside its transaction
(``AccountStanding``), and ``check_entry`` says which limit an order would break. Only entries
are checked: a buy opens or adds to a long position. Sells (a take profit, a stop sale, a grid's
counter-order), cancels and stops reduce exposure and are never refused here, whatever the
figures say: refusing an exit is what turns a limit into a larger loss.

- trades per day: entries accepted since 00:00 UTC, every bot of the user counted;
- loss per day: the realised P&L booked since 00:00 UTC (negative is a loss) must not be at or
  beyond minus the limit, in USDT: each booking is valued in USDT at its own time
  (``value_booking``); a loss booked while its quote had no USDT rate cannot be checked, so it
  refuses entries (``Breach`` named ``max_daily_loss``) rather than being left out;
- risk per trade: for an order with a stop, (entry - stop) x amount as a share (%) of the
  equity the order trades against;
- open positions: a bot holding base (or with a live buy) is one open position; an entry from
  a bot that already has one adds to it and opens none.

``accept`` folds an accepted entry in, so the next order of the same decision sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from enum import StrEnum

ZERO = Decimal(0)
HUNDRED = Decimal(100)
USDT = "USDT"


class LimitName(StrEnum):
    TRADES_PER_DAY = "max_trades_per_day"
    LOSS_PER_DAY = "max_daily_loss"
    RISK_PER_TRADE = "max_risk_per_trade_pct"
    OPEN_POSITIONS = "max_open_positions"


@dataclass(frozen=True, slots=True)
class AccountLimits:
    max_trades_per_day: int | None = None
    max_daily_loss: Decimal | None = None  # USDT, positive
    max_risk_per_trade_pct: Decimal | None = None  # in (0, 100]
    max_open_positions: int | None = None

    @property
    def any(self) -> bool:
        return any(
            value is not None
            for value in (
                self.max_trades_per_day,
                self.max_daily_loss,
                self.max_risk_per_trade_pct,
                self.max_open_positions,
            )
        )


@dataclass(frozen=True, slots=True)
class AccountStanding:
    """The figures a decision's entries are checked against, read once in its transaction."""

    limits: AccountLimits
    trades_today: int = 0
    realized_today: Decimal = ZERO  # booked since 00:00 UTC, in USDT; negative is a loss
    open_positions: int = 0
    bot_has_position: bool = False  # the deciding bot already counts among open_positions
    equity: Decimal | None = None  # what the deciding bot's orders trade against, in quote
    # Losses booked today with no USDT rate for their quote: (quote, amount < 0).
    unvalued_losses: tuple[tuple[str, Decimal], ...] = ()


@dataclass(frozen=True, slots=True)
class BookedValue:
    """One booking of realised P&L as the daily loss counts it: its USDT value, and the part
    (in quote) that had no rate to be valued at."""

    usdt: Decimal
    unvalued: Decimal


def unbooked(whole: Decimal, booked: Decimal | None, absorbed: Decimal) -> Decimal:
    """What of ``whole`` (a bot's realised P&L with every fill it has, absorbed or waiting) is
    not booked yet: ``booked`` is what the last booking left booked; None (no booking since this
    was kept) means the absorbed ledger's realised P&L, ``absorbed``, was."""
    return whole - (absorbed if booked is None else booked)


def value_booking(amount: Decimal, quote: str, usdt_rate: Decimal | None) -> BookedValue:
    """``amount`` of ``quote`` in USDT at ``usdt_rate`` (USDT per unit of quote). USDT is worth
    1; without a rate nothing is valued and the whole amount stays unvalued."""
    if quote == USDT:
        return BookedValue(amount, ZERO)
    if usdt_rate is None:
        return BookedValue(ZERO, amount)
    with localcontext() as ctx:
        ctx.prec = 60
        return BookedValue(amount * usdt_rate, ZERO)


@dataclass(frozen=True, slots=True)
class Entry:
    """What the check reads of an order: an entry (buy) or not, its size, price and stop."""

    is_entry: bool
    amount: Decimal
    price: Decimal  # the limit price, or the reference price for a market order
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Breach:
    """A limit an entry would break: which, its value, the figure it was checked against."""

    limit: LimitName
    value: Decimal
    figure: Decimal
    reason: str


def trade_risk(entry: Entry) -> Decimal | None:
    """What the order loses if its stop is hit (quote); None without a stop below the price."""
    if entry.stop_price is None or entry.stop_price >= entry.price:
        return None if entry.stop_price is None else ZERO
    return (entry.price - entry.stop_price) * entry.amount


def risk_share_pct(entry: Entry, equity: Decimal | None) -> Decimal | None:
    """The order's risk as a share (%) of ``equity``; None when it has no stop. No equity (or
    none left) with a risk: infinitely large, so any limit refuses it."""
    risk = trade_risk(entry)
    if risk is None:
        return None
    if risk == 0:
        return ZERO
    if equity is None or equity <= 0:
        return Decimal("Infinity")
    with localcontext() as ctx:
        ctx.prec = 40
        return risk / equity * HUNDRED


def check_entry(entry: Entry, standing: AccountStanding) -> Breach | None:
    """The first limit this order breaks, or None. Never one for an exit."""
    if not entry.is_entry:
        return None
    limits = standing.limits
    if limits.max_daily_loss is not None and standing.realized_today <= -limits.max_daily_loss:
        loss = -standing.realized_today
        return Breach(
            LimitName.LOSS_PER_DAY,
            limits.max_daily_loss,
            loss,
            f"daily loss limit reached: {loss} USDT lost today, limit {limits.max_daily_loss}",
        )
    if limits.max_daily_loss is not None and standing.unvalued_losses:
        unvalued = ", ".join(f"{-amount} {quote}" for quote, amount in standing.unvalued_losses)
        return Breach(
            LimitName.LOSS_PER_DAY,
            limits.max_daily_loss,
            -min(standing.realized_today, ZERO),
            f"daily loss limit cannot be checked: a loss of {unvalued} booked today has no"
            " USDT price",
        )
    trades = limits.max_trades_per_day
    if trades is not None and standing.trades_today >= trades:
        return Breach(
            LimitName.TRADES_PER_DAY,
            Decimal(trades),
            Decimal(standing.trades_today),
            f"trades per day limit reached: {standing.trades_today} today, limit {trades}",
        )
    positions = limits.max_open_positions
    opens_one = not standing.bot_has_position
    if positions is not None and opens_one and standing.open_positions >= positions:
        return Breach(
            LimitName.OPEN_POSITIONS,
            Decimal(positions),
            Decimal(standing.open_positions),
            f"open positions limit reached: {standing.open_positions} open, limit {positions}",
        )
    share = limits.max_risk_per_trade_pct
    taken = risk_share_pct(entry, standing.equity) if share is not None else None
    if share is not None and taken is not None and taken > share:
        shown = "no equity" if taken.is_infinite() else f"{taken:.4f}% of equity"
        return Breach(
            LimitName.RISK_PER_TRADE,
            share,
            taken,
            f"risk per trade limit: the stop risks {shown}, limit {share}%",
        )
    return None


def accept(entry: Entry, standing: AccountStanding) -> AccountStanding:
    """The standing after ``entry`` went out: one more trade, and the bot's position open."""
    if not entry.is_entry:
        return standing
    opened = 0 if standing.bot_has_position else 1
    return replace(
        standing,
        trades_today=standing.trades_today + 1,
        open_positions=standing.open_positions + opened,
        bot_has_position=True,
    )
