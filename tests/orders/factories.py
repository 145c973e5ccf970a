"""Orders, their events and fills written straight to the database (the runtime will write them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.core.db import Database
from autogrid.models import Fill, Order, OrderEvent


async def add_order(
    db: Database,
    bot: dict[str, Any],
    user_id: uuid.UUID,
    *,
    created_at: datetime,
    status: str = "open",
    side: str = "buy",
    price: str = "100000",
    amount: str = "0.002",
    filled: str = "0",
    exchange_order_id: str | None = "12345",
    events: tuple[tuple[str | None, str], ...] = ((None, "new"), ("new", "open")),
) -> uuid.UUID:
    order = Order(
        id=uuid.uuid4(),
        bot_id=uuid.UUID(bot["id"]),
        user_id=user_id,
        client_order_id=f"ag-{uuid.uuid4().hex[:20]}",
        exchange_order_id=exchange_order_id,
        exchange=bot["exchange"],
        symbol=bot["symbol"],
        side=side,
        type="limit",
        price=Decimal(price),
        amount=Decimal(amount),
        filled=Decimal(filled),
        status=status,
        intent={"tag": "B3"},
        created_at=created_at,
        updated_at=created_at,
    )
    async with db.session_scope() as session:
        session.add(order)
        await session.flush()
        for from_status, to_status in events:
            session.add(
                OrderEvent(
                    order_id=order.id,
                    from_status=from_status,
                    to_status=to_status,
                    reason="test",
                    created_at=created_at,
                )
            )
    return order.id


async def add_fill(
    db: Database,
    bot: dict[str, Any],
    order_id: uuid.UUID,
    *,
    ts: datetime,
    trade_id: str,
    side: str = "buy",
    price: str = "100000",
    amount: str = "0.001",
    fee: str = "0.1",
    fee_currency: str | None = "USDT",
    executed_at: datetime | None = None,
) -> None:
    async with db.session_scope() as session:
        session.add(
            Fill(
                ts=ts,
                executed_at=executed_at,
                order_id=order_id,
                bot_id=uuid.UUID(bot["id"]),
                trade_id=trade_id,
                side=side,
                price=Decimal(price),
                amount=Decimal(amount),
                fee=Decimal(fee),
                fee_currency=fee_currency,
                is_maker=True,
            )
        )
