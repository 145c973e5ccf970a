"""The account overview: each of the user's exchange keys and paper accounts with its balances
valued in USDT (``pricing``), and the P&L of the bots trading on it (``figures``); and the
user's results per UTC day. Read only. An exchange that fails or does not answer in time marks
its own account unavailable; the overview still answers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.ledger import split_symbol
from autogrid.bots.state import paper_account_id
from autogrid.core.errors import AppError
from autogrid.credentials.crypto import KeyRing
from autogrid.credentials.service import fetch_balances
from autogrid.exchanges.pool import ConnectorFactory
from autogrid.models import Bot, BotMode, ExchangeCredential, Fill, PaperAccount, UserIdentity
from autogrid.portfolio import repository
from autogrid.portfolio.figures import BotFigures, bot_figures, win_rate
from autogrid.portfolio.pricing import Price, Pricer, PublicConnector
from autogrid.portfolio.schemas import (
    AccountKind,
    AccountPortfolio,
    AccountToday,
    BalanceValue,
    OpenPosition,
    Portfolio,
)
from autogrid.risk import standing
from autogrid.trading.account_limits import BookedValue

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
VALUATION = (
    "USDT at 1; other currencies at the last trade of their USDT pair on the account's exchange"
    " (public ticker), or the newest stored candle's close if the exchange does not answer; a"
    " paper account replaying candles at the close of the candle its own clock has reached."
    " Non-USDT quote currencies of P&L are converted at the same prices."
)

PriceOf = Callable[[str], Awaitable[Price]]


@dataclass(frozen=True, slots=True)
class ExchangeAccess:
    """What the overview reads the exchanges through."""

    public: PublicConnector
    connectors: ConnectorFactory
    keyring: KeyRing
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Holding:
    currency: str
    free: Decimal
    locked: Decimal


@dataclass(slots=True)
class UserBooks:
    bots: Sequence[Bot]
    figures: dict[uuid.UUID, BotFigures]
    booked_today: dict[uuid.UUID, BookedValue]  # USDT at booking time, and what had no rate


async def portfolio(
    session: AsyncSession, user: UserIdentity, access: ExchangeAccess, now: datetime
) -> Portfolio:
    pricer = Pricer(session, access.public, now, access.timeout_seconds)
    books = await _books(session, user.id, now)
    accounts: list[AccountPortfolio] = []
    credentials = await repository.credentials(session, user.id)
    # Every key's balances at once: a slow exchange costs one timeout, not one per key.
    reads = await asyncio.gather(*(_read_balances(c, access) for c in credentials))
    for credential, read in zip(credentials, reads, strict=True):
        accounts.append(await _credential_account(credential, read, books, pricer))
    # The paper accounts the user's bots trade on: one a bot's paper settings replaced holds
    # the simulated money of before, and is no longer anyone's.
    current = [paper_account_id(bot) for bot in books.bots if bot.mode == BotMode.PAPER]
    papers = await repository.paper_accounts(
        session, user.id, [account for account in current if account is not None]
    )
    holdings: dict[uuid.UUID, list[Holding]] = defaultdict(list)
    for row in await repository.paper_balances(session, [account.id for account in papers]):
        holdings[row.account_id].append(Holding(row.currency, row.free, row.locked))
    for account in papers:
        accounts.append(await _paper_account(account, holdings[account.id], books, pricer))
    figures = await standing.today(session, user.id, now)
    return Portfolio(
        valued_at=now,
        valuation=VALUATION,
        value_usdt=sum((a.value_usdt or ZERO for a in accounts), ZERO),
        complete=all(a.available and not a.unvalued for a in accounts),
        today=AccountToday(
            day=figures.day,
            entries=figures.entries,
            realized_pnl=figures.realized,
            unvalued_pnl={quote: amount for quote, amount in figures.unvalued},
            open_positions=len(figures.open_bots),
        ),
        accounts=accounts,
    )


async def _books(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> UserBooks:
    bots = await repository.bots(session, user_id)
    by_bot: dict[uuid.UUID, list[Fill]] = defaultdict(list)
    for fill in await repository.fills(session, [bot.id for bot in bots]):
        by_bot[fill.bot_id].append(fill)
    day_start = standing.start_of_day(now)
    figures = {bot.id: bot_figures(by_bot[bot.id], bot.symbol, day_start) for bot in bots}
    booked: dict[uuid.UUID, BookedValue] = defaultdict(lambda: BookedValue(ZERO, ZERO))
    for row in await repository.booked_since(session, user_id, standing.day_of(now)):
        sum_so_far = booked[row.bot_id]
        booked[row.bot_id] = BookedValue(
            sum_so_far.usdt + row.realized_usdt, sum_so_far.unvalued + row.unvalued_pnl
        )
    return UserBooks(bots, figures, booked)


async def _read_balances(
    credential: ExchangeCredential, access: ExchangeAccess
) -> list[Holding] | str:
    """The key's balances, or why they could not be read."""
    try:
        async with asyncio.timeout(access.timeout_seconds):
            balances = await fetch_balances(access.keyring, access.connectors, credential)
    except AppError as failure:
        return failure.message
    except TimeoutError:
        return f"{credential.exchange} did not answer within {access.timeout_seconds} s"
    return [Holding(b.currency, b.free, b.used) for b in balances.values()]


async def _credential_account(
    credential: ExchangeCredential,
    read: list[Holding] | str,
    books: UserBooks,
    pricer: Pricer,
) -> AccountPortfolio:
    bots = [b for b in books.bots if b.mode == BotMode.LIVE and b.credential_id == credential.id]

    async def price(currency: str) -> Price:
        return await pricer.live(credential.exchange, currency)

    held, error = (None, read) if isinstance(read, str) else (read, None)
    return await _account(
        AccountKind.CREDENTIAL,
        (credential.id, credential.label, credential.exchange),
        held,
        error,
        bots,
        books,
        price,
    )


async def _paper_account(
    account: PaperAccount, held: list[Holding], books: UserBooks, pricer: Pricer
) -> AccountPortfolio:
    bots = [b for b in books.bots if b.mode == BotMode.PAPER and paper_account_id(b) == account.id]

    async def price(currency: str) -> Price:
        if account.price_source == "replay":
            return await pricer.replay(
                account.exchange, currency, account.timeframe, account.matched_until
            )
        return await pricer.live(account.exchange, currency)

    return await _account(
        AccountKind.PAPER,
        (account.id, account.label, account.exchange),
        held,
        None,
        bots,
        books,
        price,
    )


async def _account(
    kind: AccountKind,
    names: tuple[uuid.UUID, str, str],
    held: list[Holding] | None,
    error: str | None,
    bots: list[Bot],
    books: UserBooks,
    price: PriceOf,
) -> AccountPortfolio:
    balances = [await _valued(holding, price) for holding in sorted(held or [], key=_currency)]
    pnl = await _pnl(bots, books, price)
    figures = [books.figures[bot.id] for bot in bots]
    wins = sum(f.wins for f in figures)
    losses = sum(f.losses for f in figures)
    return AccountPortfolio(
        kind=kind,
        id=names[0],
        label=names[1],
        exchange=names[2],
        available=held is not None,
        error=error,
        balances=balances,
        value_usdt=None
        if held is None
        else sum((b.value_usdt for b in balances if b.value_usdt is not None), ZERO),
        unvalued=[b.currency for b in balances if b.value_usdt is None],
        bots=len(bots),
        realized_pnl_usdt=pnl.realized,
        realized_pnl_today_usdt=pnl.realized_today,
        unrealized_pnl_usdt=pnl.unrealized,
        pnl_reason=pnl.reason,
        trades_today=sum(f.trades_today for f in figures),
        wins=wins,
        losses=losses,
        win_rate_pct=win_rate(wins, losses),
        open_positions=pnl.positions,
    )


def _currency(holding: Holding) -> str:
    return holding.currency


async def _valued(holding: Holding, price: PriceOf) -> BalanceValue:
    total = holding.free + holding.locked
    found = await price(holding.currency)
    value = None if found.usdt is None else total * found.usdt
    return BalanceValue(
        currency=holding.currency,
        free=holding.free,
        locked=holding.locked,
        total=total,
        price_usdt=found.usdt,
        value_usdt=value,
        price_source=found.source,
        priced_at=found.at,
        reason=found.reason,
    )


@dataclass(slots=True)
class Pnl:
    realized: Decimal | None = ZERO
    realized_today: Decimal | None = ZERO
    unrealized: Decimal | None = ZERO
    reason: str | None = None
    positions: list[OpenPosition] | None = None


async def _pnl(bots: list[Bot], books: UserBooks, price: PriceOf) -> Pnl:
    """The bots' P&L in USDT: each bot's figures in its quote currency, times that currency's
    price; a figure is null (with the reason) if any bot's currency has none."""
    pnl = Pnl(positions=[])
    assert pnl.positions is not None
    for bot in bots:
        ledger = books.figures[bot.id].ledger
        base, quote = split_symbol(bot.symbol)
        quote_price = await price(quote)
        if quote_price.usdt is None:
            pnl.realized = pnl.realized_today = pnl.unrealized = None
            pnl.reason = quote_price.reason
        elif pnl.realized is not None and pnl.realized_today is not None:
            pnl.realized += ledger.realized * quote_price.usdt
            # Valued as the daily loss limit counts it: each booking at its own time's rate.
            today = books.booked_today[bot.id]
            pnl.realized_today += today.usdt + today.unvalued * quote_price.usdt
        if ledger.position <= 0:
            continue
        base_price = await price(base)
        unrealized = (
            None
            if base_price.usdt is None or quote_price.usdt is None
            else ledger.position * base_price.usdt - ledger.cost * quote_price.usdt
        )
        missing = base_price.reason or quote_price.reason
        if unrealized is None:
            pnl.unrealized = None
            pnl.reason = pnl.reason or missing
        elif pnl.unrealized is not None:
            pnl.unrealized += unrealized
        pnl.positions.append(
            OpenPosition(
                bot_id=bot.id,
                bot_name=bot.name,
                symbol=bot.symbol,
                amount=ledger.position,
                average_entry=ledger.average_entry,
                unrealized_pnl_usdt=unrealized,
                reason=None
                if unrealized is not None
                else (base_price.reason or quote_price.reason),
            )
        )
    return pnl
