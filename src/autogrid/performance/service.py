"""What the API shows of a bot's results: its stats from its fills, and its performance series
from the recorded samples. Read only; a bot is visible only to its owner."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import service as bots
from autogrid.bots.ledger import Ledger, investment_of, roi_pct, split_symbol
from autogrid.bots.state import load_state
from autogrid.core.errors import Unprocessable
from autogrid.core.sqltypes import utcnow
from autogrid.models import UserIdentity
from autogrid.orders import store as order_repository
from autogrid.performance import repository as metrics_repository
from autogrid.performance.repository import MetricPoint
from autogrid.performance.schemas import BotStats, MetricInterval

MAX_METRIC_POINTS = 2000
DEFAULT_METRICS_SPAN = timedelta(days=7)


async def bot_stats(session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID) -> BotStats:
    bot = await bots.get_bot(session, user, bot_id)
    base, quote = split_symbol(bot.symbol)
    ledger = Ledger().with_fills(await order_repository.bot_fills(session, bot.id), bot.symbol)
    state = load_state(bot)
    price = Decimal(state.last_price) if state.last_price else None
    unrealized = ledger.unrealized(price)
    total = ledger.realized + unrealized
    investment = investment_of(bot.investment, state)
    strategy_state = state.strategy or {}
    grid_profit = Decimal(strategy_state.get("grid_profit", "0")) if bot.type == "grid" else None
    return BotStats(
        bot_id=bot.id,
        symbol=bot.symbol,
        base=base,
        quote=quote,
        price=price,
        position=ledger.position,
        average_entry=ledger.average_entry,
        realized_pnl=ledger.realized,
        unrealized_pnl=unrealized,
        total_pnl=total,
        grid_profit=grid_profit,
        fees=ledger.fees,
        investment=investment,
        roi_pct=roi_pct(total, investment),
        trades=ledger.trades,
        buys=ledger.buys,
        sells=ledger.sells,
        volume=ledger.volume,
    )


async def bot_metrics(
    session: AsyncSession,
    user: UserIdentity,
    bot_id: uuid.UUID,
    interval: MetricInterval,
    since: datetime | None,
    until: datetime | None,
) -> tuple[datetime, datetime, list[MetricPoint]]:
    bot = await bots.get_bot(session, user, bot_id)
    until = until or utcnow()
    since = since or until - DEFAULT_METRICS_SPAN
    if until <= since:
        raise Unprocessable(
            "until must be after since",
            details=[{"loc": ["query", "until"], "msg": "must be after since", "type": "invalid"}],
        )
    points = await metrics_repository.bucketed(
        session, bot.id, interval.seconds, since, until, MAX_METRIC_POINTS
    )
    return since, until, points
