"""Responses of /bots/{id}/deals: a DCA bot's deals with their orders. Money as decimal strings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, AliasPath, BaseModel, ConfigDict, Field

from autogrid.bots.fields import Amount
from autogrid.orders.schemas import OrderRead


class DealStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DealOrderRead(OrderRead):
    """One order of a deal: the orders API's shape plus the strategy's tag for it."""

    # Read from the row's intent (where the runtime keeps it) or, re-validated, from "tag".
    tag: str = Field(
        validation_alias=AliasChoices("tag", AliasPath("intent", "tag")),
        description="D{n}.BO base order, D{n}.SO{k} safety order k, "
        "D{n}.TP{v} take profit (v-th placement), D{n}.EXIT market exit",
    )


class DealRead(BaseModel):
    """One deal. The open deal shows what is known so far: no close, no profit yet."""

    model_config = ConfigDict(from_attributes=True)

    number: int = Field(description="the deal's number for this bot, from 1")
    status: DealStatus
    opened_at: datetime
    closed_at: datetime | None
    duration_seconds: int = Field(
        description="whole seconds from open to close; the open deal's up to the bot's now "
        "(a paper replay's: the candle time it has traded up to)"
    )
    close_reason: str | None = Field(
        description="take_profit | trailing_take_profit | stop_loss | stopped | signal (null: open)"
    )
    base_price: Amount | None = Field(description="the base order's fill price")
    average_entry: Amount | None = Field(
        description="price x amount of the buys over the base they bought (fees excluded)"
    )
    amount: Amount = Field(description="base bought (gross, before fees taken in base)")
    cost: Amount = Field(description="quote paid for the buys, fees included")
    proceeds: Amount = Field(description="quote received for the sales, after fees")
    profit: Amount | None = Field(description="proceeds - cost, in quote (null: open)")
    profit_percentage: Amount | None = Field(description="profit / cost x 100 (null: open)")
    safety_orders_filled: int
    take_profit_price: Amount | None = Field(
        description="open deal only: the price of its resting take-profit order (null with a "
        "trailing take profit, which rests no order, or before the base order fills)"
    )
    take_profit_retry_at: datetime | None = Field(
        None,
        description="open deal only: when its take profit, which left the book unfilled "
        "(rejected by the exchange, a price filter say), is placed again; then less and less "
        "often, at most every 16 minutes (null when none is waiting)",
    )
    orders: list[DealOrderRead] = Field(description="the deal's orders, oldest first")
