"""What /smart-trades takes and answers.

The create body is a smart trade's own parameters (``SmartTradeParams``: amount, entry,
take-profits, stop loss, trailing stop, timeout) with where it trades: exchange, symbol, paper
settings or a live credential, as a bot's. Unknown fields are refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from autogrid.bots.fields import Amount, BotName, ExchangeId, Symbol
from autogrid.bots.schemas import BotSettings
from autogrid.bots.smart_trade_params import SmartTradeParams
from autogrid.core.pagination import Page
from autogrid.models.bot import BotMode, BotStatus
from autogrid.orders.schemas import OrderRead


class SmartTradeCreate(BotSettings, SmartTradeParams):
    """A smart trade, created and started at once."""

    name: BotName = "smart trade"
    exchange: ExchangeId = "binance"
    symbol: Symbol


class Phase(StrEnum):
    PENDING = "pending"  # not decided yet
    ENTERING = "entering"  # the entry rests, nothing bought yet
    OPEN = "open"  # holding, its exits set
    CLOSING = "closing"  # an exit fired (or a close was asked): selling
    CLOSED = "closed"


class SmartTradeRead(BaseModel):
    id: uuid.UUID = Field(description="also the id of the bot that runs it (/bots/{id})")
    name: str
    exchange: str
    symbol: str
    mode: BotMode
    credential_id: uuid.UUID | None
    status: BotStatus = Field(description="the status of the bot that runs it")
    phase: Phase
    config: SmartTradeParams
    entry_price: Amount | None = Field(description="average price paid, fees included")
    bought: Amount = Field(description="base bought")
    position: Amount = Field(description="base held now")
    stop: Amount | None = Field(description="the stop price as it stands")
    stop_moved_to_break_even: bool
    highest_price: Amount | None = Field(description="highest price seen while holding")
    take_profits_done: list[int] = Field(description="indexes of the steps that filled")
    exit: str | None = Field(
        description="what closed it: take_profit, stop_loss, break_even, trailing_stop, timeout, "
        "entry_not_filled, refused; manual_close or cancelled when you ended it"
    )
    note: str | None
    realized_pnl: Amount = Field(description="quote, fees included")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


class SmartTradeDetail(SmartTradeRead):
    orders: list[OrderRead] = Field(description="its orders, oldest first")


class SmartTradePage(Page[SmartTradeRead]):
    """A page of smart trades, newest first."""
