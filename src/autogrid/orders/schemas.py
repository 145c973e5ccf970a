"""Responses of the order, cancel and trade routes. Prices and amounts are decimal strings."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from autogrid.bots.fields import Amount


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OrderRead(_Read):
    id: uuid.UUID
    bot_id: uuid.UUID
    client_order_id: str
    exchange_order_id: str | None
    exchange: str
    symbol: str
    side: str
    type: str
    status: str
    price: Amount | None
    amount: Amount
    filled: Amount
    average_price: Amount | None
    fee: Amount
    fee_currency: str | None
    intent: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    closed_at: datetime | None


class OrderEventRead(_Read):
    from_status: str | None
    to_status: str
    reason: str
    data: dict[str, Any] | None
    created_at: datetime


class FillRead(_Read):
    id: uuid.UUID
    order_id: uuid.UUID
    trade_id: str
    ts: datetime = Field(
        validation_alias=AliasChoices("traded_at", "ts"),
        description="When the trade's price was there: the exchange's trade time; for a paper "
        "fill matched against a candle, that candle's open (a limit order reached inside the "
        "candle too: a candle does not say when within it)",
    )
    settled_at: datetime = Field(
        validation_alias=AliasChoices("settled_at", "ts"),
        description="When the bot could learn of the trade: the exchange's trade time; for a "
        "paper fill matched against a candle, that candle's close",
    )
    side: str
    price: Amount
    amount: Amount
    fee: Amount
    fee_currency: str | None
    is_maker: bool | None


class OrderDetail(OrderRead):
    """An order with its audit trail (oldest first) and its trades."""

    events: list[OrderEventRead]
    fills: list[FillRead]


class TradeFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class CancelAccepted(BaseModel):
    order_id: uuid.UUID
    status: str
    cancel_pending: bool = Field(
        description="the exchange still has to confirm (the bot's next tick sends it)"
    )
    amount: Amount
    filled: Amount
