"""/api/v1/orders/{id}, and a bot's orders and trades under /api/v1/bots/{id}/."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.core.pagination import Page, PageDep
from autogrid.orders import service
from autogrid.orders.export import fills_csv
from autogrid.orders.schemas import FillRead, OrderDetail, OrderRead, TradeFormat
from autogrid.trading.orders.states import OrderStatus

router = APIRouter(tags=["orders"])

Since = Annotated[AwareDatetime | None, Query(description="trades at or after this time")]
Until = Annotated[AwareDatetime | None, Query(description="trades before this time")]

_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of trades, newest first; with format=csv every trade (up to "
        f"{service.MAX_EXPORT_ROWS}, oldest first) as CSV with a header row",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get("/bots/{bot_id}/orders", response_model=Page[OrderRead])
async def list_bot_orders(
    bot_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    order_status: Annotated[
        list[OrderStatus] | None,
        Query(alias="status", max_length=20, description="any of these statuses"),
    ] = None,
) -> Page[OrderRead]:
    """A bot's orders, newest first."""
    orders, total = await service.list_bot_orders(
        session, user, bot_id, page, statuses=order_status or ()
    )
    return Page[OrderRead](
        items=[OrderRead.model_validate(order) for order in orders],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/orders/{order_id}", response_model=OrderDetail)
async def get_order(order_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> OrderDetail:
    """One of your orders with its status history and trades."""
    history = await service.get_order(session, user, order_id)
    return OrderDetail.model_validate(
        {
            **OrderRead.model_validate(history.order).model_dump(),
            "events": history.events,
            "fills": history.fills,
        }
    )


@router.get("/bots/{bot_id}/trades", response_model=Page[FillRead], responses=_CSV_RESPONSE)
async def list_trades(
    bot_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    since: Since = None,
    until: Until = None,
    output: Annotated[TradeFormat, Query(alias="format")] = TradeFormat.JSON,
) -> Page[FillRead] | Response:
    """A bot's trades (fills), newest first; format=csv exports them all, oldest first."""
    if output is TradeFormat.CSV:
        export = await service.export_trades(session, user, bot_id, since=since, until=until)
        headers = {
            "Content-Disposition": f'attachment; filename="bot-{bot_id}-trades.csv"',
            "X-Truncated": "true" if export.truncated else "false",
        }
        return Response(
            fills_csv(export.bot.symbol, export.fills),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )
    fills, total = await service.list_trades(session, user, bot_id, page, since=since, until=until)
    return Page[FillRead](
        items=[FillRead.model_validate(fill) for fill in fills],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
