"""Pre-trade risk: may the orders a strategy asked for be sent? Pure: no I/O, no clock.

Every order a decision places passes here, in the order the strategy gave, before anything is
written: the kill switch denies all of them; once one denial trips the circuit breaker, every
later order of the decision is denied too; the market's rules round the amount and price (or
refuse the order, naming the broken limit); the owner's account limits refuse an entry that
would break one (``trading.account_limits``; never an exit); then the breaker's own checks
(order rate, price deviation) decide. An order let through is counted for the rate limit and,
if it is an entry, in the account's figures the next order is checked against. After the
decision's fills, the loss limit is checked on the bot's mark-to-market PnL (``after_fills``).

The caller records what comes out (an order row to send, or a DENIED row with the reason; an
entry refused by an account limit, ``Vetted.breach``, leaves no row: its owner hears of the
limit once a day) and halts the bot if a trip came out. Cancels never come here: reducing
exposure is always allowed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from autogrid.exchanges.errors import MarketRuleViolation
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading import breaker as cb
from autogrid.trading.account_limits import AccountStanding, Breach, Entry, accept, check_entry

# prepare_order checks a client order id's shape; the vetted order gets its real id when it is
# written, so this one only stands in for it.
_CHECK_ID = "pretrade-check"


class TripCode:
    """Why the breaker tripped, as a short fixed code (metrics label; never the message)."""

    ORDER_RATE = "order_rate"
    PRICE_DEVIATION = "price_deviation"
    LOSS_LIMIT = "loss_limit"
    CONSECUTIVE_ERRORS = "consecutive_errors"
    KILL_SWITCH = "kill_switch"
    ORDER_NOT_PLACED = "order_not_placed"


def denial_code(reason: str | None) -> str:
    """Which limit a tripping ``check_new_order`` denial hit."""
    return (
        TripCode.ORDER_RATE if (reason or "").startswith("order rate") else TripCode.PRICE_DEVIATION
    )


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the strategy wants: its tag, side, type, amount, (limit) price and the stop
    it is protected by, if any (what the risk per trade is measured to)."""

    tag: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Vetted:
    """One intent after the checks. Allowed: rounded to the market's rules. Denied: ``denial``
    says why; the intent is the rounded one when only the breaker refused it, else as asked."""

    intent: OrderIntent
    denial: str | None = None
    breach: Breach | None = None  # the account limit that refused it (no order row is written)

    @property
    def allowed(self) -> bool:
        return self.denial is None


@dataclass(frozen=True, slots=True)
class Trip:
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class PreTrade:
    """What the checks of one decision read (all of it fixed for the decision)."""

    market: MarketRules
    reference_price: Decimal
    limits: cb.BreakerLimits
    at: datetime  # the decision's own time (a candle close in a replay): the breaker's clock
    tripped_at: datetime  # the wall clock: when a trip is recorded
    killed: str | None = None  # the kill switch's reason, if engaged


@dataclass(frozen=True, slots=True)
class Risk:
    """The breaker as the decision has left it so far, and the trip it led to, if any."""

    breaker: cb.BreakerState
    trip: Trip | None = None
    account: AccountStanding | None = None  # None: the owner has no account limits


def vet(intent: OrderIntent, checks: PreTrade, risk: Risk) -> tuple[Vetted, Risk]:
    """One intent through the checks, and the risk state the next intent is vetted against."""
    if checks.killed is not None:
        return Vetted(intent, f"kill switch: {checks.killed}"), risk
    if risk.trip is not None:
        return Vetted(intent, f"circuit breaker tripped: {risk.trip.reason}"), risk
    try:
        request = prepare_order(
            checks.market,
            intent.side,
            intent.type,
            intent.amount,
            intent.price,
            _CHECK_ID,
            reference_price=checks.reference_price,
        )
    except MarketRuleViolation as error:
        return Vetted(intent, str(error)), risk
    prepared = OrderIntent(
        intent.tag, request.side, request.type, request.amount, request.price, intent.stop_price
    )
    entry = entry_of(prepared, checks.reference_price)
    if risk.account is not None:
        breach = check_entry(entry, risk.account)
        if breach is not None:
            return Vetted(prepared, f"account limit: {breach.reason}", breach), risk
    check = cb.check_new_order(
        risk.breaker,
        checks.limits,
        checks.at,
        request.price,
        checks.reference_price,
        request.side,
    )
    if check.allowed:
        account = accept(entry, risk.account) if risk.account is not None else None
        return Vetted(prepared), replace(
            risk, breaker=cb.record_order_sent(risk.breaker, checks.at), account=account
        )
    reason = check.reason or ""
    if not check.trips_breaker:
        return Vetted(prepared, reason), risk
    trip = Trip(denial_code(check.reason), reason)
    breaker = cb.trip(risk.breaker, reason, checks.tripped_at)
    return Vetted(prepared, reason), Risk(breaker, trip, risk.account)


def entry_of(intent: OrderIntent, reference_price: Decimal) -> Entry:
    """What the account limits read of an order: a buy is an entry; its price is its limit
    price, or the reference price for a market order."""
    price = intent.price if intent.price is not None else reference_price
    return Entry(intent.side == Side.BUY, intent.amount, price, intent.stop_price)


def vet_all(
    intents: Iterable[OrderIntent], checks: PreTrade, risk: Risk
) -> tuple[list[Vetted], Risk]:
    """Every intent of a decision, in order (``vet`` folded over them)."""
    vetted: list[Vetted] = []
    for intent in intents:
        one, risk = vet(intent, checks, risk)
        vetted.append(one)
    return vetted, risk


def after_fills(
    risk: Risk,
    limits: cb.BreakerLimits,
    at: datetime,
    pnl: Decimal,
    investment: Decimal | None,
) -> Risk:
    """The loss limit on the PnL the decision's fills leave (realized + unrealized), if the bot
    has an investment to measure a loss against and nothing tripped already."""
    if investment is None or risk.trip is not None or risk.breaker.tripped:
        return risk
    breaker = cb.record_pnl(risk.breaker, limits, at, pnl, investment)
    if not breaker.tripped:
        return replace(risk, breaker=breaker)
    trip = Trip(TripCode.LOSS_LIMIT, breaker.tripped_reason or "loss limit")
    return Risk(breaker, trip, risk.account)


def final_trip(risk: Risk, killed: str | None) -> Trip | None:
    """What halts the bot once the decision is recorded: the kill switch above all."""
    if killed is not None:
        return Trip(TripCode.KILL_SWITCH, f"kill switch: {killed}")
    return risk.trip
