"""/api/v1/bots/{id}/stats and /api/v1/bots/{id}/metrics: a bot's results, now and over time."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.performance import service
from autogrid.performance.schemas import BotMetrics, BotStats, MetricInterval, MetricPointRead

# The OpenAPI tag predates this package: kept so generated clients do not move the operations.
router = APIRouter(tags=["bots"])


@router.get("/bots/{bot_id}/stats", response_model=BotStats)
async def bot_stats(bot_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> BotStats:
    """A bot's P&L, fees, position, average entry, ROI and trade count, from its fills."""
    return await service.bot_stats(session, user, bot_id)


@router.get("/bots/{bot_id}/metrics", response_model=BotMetrics)
async def bot_metrics(
    bot_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    interval: MetricInterval = MetricInterval.H1,
    since: Annotated[AwareDatetime | None, Query(description="default: 7 days ago")] = None,
    until: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> BotMetrics:
    """A bot's equity, P&L and position over time, one point per interval."""
    start, end, points = await service.bot_metrics(session, user, bot_id, interval, since, until)
    return BotMetrics(
        bot_id=bot_id,
        interval=interval,
        since=start,
        until=end,
        points=[
            MetricPointRead(
                ts=p.ts,
                equity=p.equity,
                realized_pnl=p.realized_pnl,
                unrealized_pnl=p.unrealized_pnl,
                position=p.position,
                price=p.price,
            )
            for p in points
        ],
    )
