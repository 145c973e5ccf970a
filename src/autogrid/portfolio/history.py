"""The user's results per UTC day: fills that day, the P&L the bots booked that day, and the sum
of the bots' last recorded equity and unrealised P&L that day (``bot_metrics``, recorded every
30 s while a bot is active; a day without a sample of a bot leaves that bot out of the day).
Realised P&L is in USDT as it was valued when booked (what the daily loss limit counted that
day); other amounts in a quote other than USDT are converted at today's price (``pricing``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.ledger import split_symbol
from autogrid.models import UserIdentity
from autogrid.performance import repository as metrics
from autogrid.portfolio import repository
from autogrid.portfolio.pricing import Pricer
from autogrid.portfolio.schemas import HistoryDay, PortfolioHistory
from autogrid.portfolio.service import VALUATION, ExchangeAccess
from autogrid.risk.standing import day_of

ZERO = Decimal(0)
DAY = timedelta(days=1)
MAX_DAYS = 366


class _Day:
    __slots__ = ("bots", "complete", "equity", "realized", "trades", "unrealized")

    def __init__(self) -> None:
        self.trades = 0
        self.realized: Decimal | None = None
        self.equity: Decimal | None = None
        self.unrealized: Decimal | None = None
        self.bots = 0
        self.complete = True


def _add(total: Decimal | None, value: Decimal) -> Decimal:
    return value if total is None else total + value


async def history(
    session: AsyncSession, user: UserIdentity, access: ExchangeAccess, now: datetime, days: int
) -> PortfolioHistory:
    until = day_of(now)
    since = until - timedelta(days=days - 1)
    start = datetime.combine(since, time(0), tzinfo=UTC)
    end = datetime.combine(until, time(0), tzinfo=UTC) + DAY
    pricer = Pricer(session, access.public, now, access.timeout_seconds)
    bots = await repository.bots(session, user.id)
    per_day: dict[date, _Day] = defaultdict(_Day)
    for ts in await repository.fill_times_since(session, [bot.id for bot in bots], start):
        per_day[day_of(ts)].trades += 1
    quote_usdt: dict[object, Decimal | None] = {}
    for bot in bots:
        quote = split_symbol(bot.symbol)[1]
        quote_usdt[bot.id] = (await pricer.live(bot.exchange, quote)).usdt
    for row in await repository.booked_since(session, user.id, since):
        # Valued when booked (what the daily loss limit counted); only what had no rate then
        # is valued at today's price.
        price = quote_usdt.get(row.bot_id)
        day = per_day[row.day]
        if row.unvalued_pnl != 0 and price is None:
            day.complete = False
            continue
        unvalued = row.unvalued_pnl * price if price is not None else ZERO
        day.realized = _add(day.realized, row.realized_usdt + unvalued)
    for bot in bots:
        price = quote_usdt[bot.id]
        for point in await metrics.bucketed(session, bot.id, 86_400, start, end, days):
            day = per_day[day_of(point.ts)]
            if price is None:
                day.complete = False
                continue
            day.equity = _add(day.equity, point.equity * price)
            day.unrealized = _add(day.unrealized, point.unrealized_pnl * price)
            day.bots += 1
    points = []
    for offset in range(days):
        on = since + timedelta(days=offset)
        day = per_day.get(on) or _Day()
        points.append(
            HistoryDay(
                day=on,
                trades=day.trades,
                realized_pnl_usdt=day.realized if day.realized is not None else ZERO,
                equity_usdt=day.equity,
                unrealized_pnl_usdt=day.unrealized,
                bots=day.bots,
                complete=day.complete,
            )
        )
    return PortfolioHistory(days=days, since=since, until=until, valuation=VALUATION, points=points)
