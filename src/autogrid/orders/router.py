"""/api/v1/orders/{id} and its cancel, and a bot's orders and trades under /api/v1/bots/{id}/."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Response, status
from pydantic import AwareDatetime

from autogrid.api.deps import ReadConnectionDep, SessionDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.bots.dependencies import get_bot_dispatcher
from autogrid.bots.dispatch import BotDispatcher
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import Page, PageDep
from autogrid.orders import service
from autogrid.orders.export import fills_csv
from autogrid.orders.schemas import (
    CancelAccepted,
    FillRead,
    OrderDetail,
    OrderRead,
    TradeFormat,
)
from autogrid.trading.orders.states import OrderStatus

# Tags per route: the cancel route keeps the OpenAPI tag it was published under.
router = APIRouter()

Since = Annotated[AwareDatetime | None, Query(description="trades at or after this time")]
Until = Annotated[AwareDatetime | None, Query(description="trades before this time")]

_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of trades, newest first; with format=csv every trade (up to "
        f"{service.MAX_EXPORT_ROWS}, oldest first) as CSV with a header row",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
_NOT_CANCELLABLE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "The order is already over (details.status)"}
}
DispatcherDep = Annotated[BotDispatcher, Depends(get_bot_dispatcher)]


@router.get("/bots/{bot_id}/orders", response_model=Page[OrderRead], tags=["orders"])
async def list_bot_orders(
    bot_id: uuid.UUID,
    user: CurrentUser,
    reads: ReadConnectionDep,
    page: PageDep,
    order_status: Annotated[
        list[OrderStatus] | None,
        Query(alias="status", max_length=20, description="any of these statuses"),
    ] = None,
) -> Page[OrderRead]:
    """A bot's orders, newest first."""
    orders, total = await service.list_bot_orders(
        reads, user, bot_id, page, statuses=order_status or ()
    )
    return Page[OrderRead](
        items=[OrderRead.model_validate(order) for order in orders],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/orders/{order_id}", response_model=OrderDetail, tags=["orders"])
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


@router.get(
    "/bots/{bot_id}/trades", response_model=Page[FillRead], responses=_CSV_RESPONSE, tags=["orders"]
)
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


async def _tick_soon(dispatcher: BotDispatcher, bot_id: uuid.UUID) -> None:
    """After commit: ask the runtime to tick the bot now (the claim would within its interval)."""
    request_tick = getattr(dispatcher, "request_tick", None)
    if request_tick is not None:
        await request_tick(bot_id)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=CancelAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_NOT_CANCELLABLE,
    tags=["orders"],
)
async def cancel_order(
    order_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    background: BackgroundTasks,
    dispatcher: DispatcherDep,
) -> CancelAccepted:
    """Cancel one of your orders: committed now, sent to the exchange by the bot's next tick."""
    result = await service.cancel_order(session, user, order_id)
    if result.pending:
        background.add_task(_tick_soon, dispatcher, result.order.bot_id)
    return CancelAccepted(
        order_id=result.order.id,
        status=result.status.value,
        cancel_pending=result.pending,
        amount=result.order.amount,
        filled=result.order.filled,
    )
