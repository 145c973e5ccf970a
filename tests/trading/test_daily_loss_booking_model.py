"""Booking realised P&L exactly once, over any sequence of fills across bots and quotes, and of
the two ways a bot books (``risk.standing``): a decision absorbing the first fills of its inbox
(``engine.recording``), and a step of a bot that makes no decision booking its waiting fills.
The USDT total booked must equal every fill's own realised P&L valued at the rate of the moment
it was first booked (or left unvalued, in its quote, when there was none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.bots.ledger import Ledger
from autogrid.trading.account_limits import USDT, unbooked, value_booking

D = Decimal
SYMBOLS = ("BTC/USDT", "ETH/BTC", "SOL/USDT")
PAGE = 3  # a decision sees at most this many fills (the inbox's batch)


@dataclass(frozen=True, slots=True)
class FillRow:
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str | None


@dataclass(slots=True)
class BotModel:
    symbol: str
    ledger: dict[str, object] | None = None  # as the bot state stores it
    mark: str | None = None  # state.booked_realized
    inbox: list[FillRow] = field(default_factory=list)
    arrived: list[FillRow] = field(default_factory=list)  # every fill, in inbox order
    first_booked_rate: list[Decimal | None] = field(default_factory=list)

    @property
    def quote(self) -> str:
        return self.symbol.partition("/")[2]


@dataclass(slots=True)
class Books:
    usdt: Decimal = field(default_factory=Decimal)
    unvalued: dict[str, Decimal] = field(default_factory=dict)

    def add(self, quote: str, change: Decimal, rate: Decimal | None) -> None:
        value = value_booking(change, quote, rate)
        self.usdt += value.usdt
        if value.unvalued:
            self.unvalued[quote] = self.unvalued.get(quote, D(0)) + value.unvalued


def book(bot: BotModel, whole: Ledger, rate: Decimal | None, books: Books) -> None:
    """What ``risk.standing.book_realized`` does, with the bot state as the model keeps it."""
    absorbed = Ledger.from_dict(bot.ledger).realized
    change = unbooked(whole.realized, D(bot.mark) if bot.mark is not None else None, absorbed)
    bot.mark = str(whole.realized)
    while len(bot.first_booked_rate) < len(bot.arrived):
        bot.first_booked_rate.append(rate if bot.quote != USDT else D(1))
    if change != 0:
        books.add(bot.quote, change, rate if bot.quote != USDT else D(1))


def book_waiting(bot: BotModel, rate: Decimal | None, books: Books) -> None:
    whole = Ledger.from_dict(bot.ledger).with_fills(bot.inbox, bot.symbol)
    book(bot, whole, rate, books)


def decide(bot: BotModel, rate: Decimal | None, books: Books) -> None:
    page, rest = bot.inbox[:PAGE], bot.inbox[PAGE:]
    after = Ledger.from_dict(bot.ledger).with_fills(page, bot.symbol)
    whole = (
        after
        if len(page) < PAGE
        else Ledger.from_dict(bot.ledger).with_fills(bot.inbox, bot.symbol)
    )
    book(bot, whole, rate, books)
    bot.ledger = after.to_dict()
    bot.inbox = rest


prices = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)
amounts = st.decimals(min_value=D("0.0001"), max_value=D(5), places=4)
fills = st.builds(
    FillRow,
    side=st.sampled_from(["buy", "sell"]),
    price=prices,
    amount=amounts,
    fee=st.decimals(min_value=D(0), max_value=D("0.01"), places=4),
    fee_currency=st.sampled_from([None, "USDT", "BTC", "ETH"]),
)
steps = st.one_of(
    st.tuples(st.just("fill"), st.integers(0, len(SYMBOLS) - 1), fills),
    st.tuples(st.just("decide"), st.integers(0, len(SYMBOLS) - 1), st.none()),
    st.tuples(st.just("book"), st.integers(0, len(SYMBOLS) - 1), st.none()),
    st.tuples(st.just("rate"), st.none(), st.none() | prices),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=40), st.none() | prices)
def test_the_booked_total_is_each_fills_realised_pnl_valued_when_first_booked(
    sequence: list[tuple[str, int | None, object]], first_rate: Decimal | None
) -> None:
    with localcontext() as ctx:
        ctx.prec = 90  # exact sums: the property is the booking, not the rounding
        bots = [BotModel(symbol) for symbol in SYMBOLS]
        books, rate = Books(), first_rate
        for kind, index, value in sequence:
            if kind == "rate":
                rate = value if isinstance(value, Decimal) else None
                continue
            assert index is not None
            bot = bots[index]
            if kind == "fill":
                assert isinstance(value, FillRow)
                bot.inbox.append(value)
                bot.arrived.append(value)
            elif kind == "decide":
                decide(bot, rate, books)
            else:
                book_waiting(bot, rate, books)
        for bot in bots:  # at the end every bot books what waits (a restart, or its stop)
            book_waiting(bot, rate, books)
            while bot.inbox:
                decide(bot, rate, books)

        expected = Books()
        for bot in bots:
            ledger = Ledger()
            for fill, booked_at in zip(bot.arrived, bot.first_booked_rate, strict=True):
                before, ledger = ledger.realized, ledger.with_fills([fill], bot.symbol)
                expected.add(bot.quote, ledger.realized - before, booked_at)
            # Absorbed at last, the ledger says the same as the bookings.
            assert Ledger.from_dict(bot.ledger).realized == ledger.realized
            assert D(bot.mark or 0) == ledger.realized
        assert books.usdt == expected.usdt
        assert {q: a for q, a in books.unvalued.items() if a} == {
            q: a for q, a in expected.unvalued.items() if a
        }
