"""What /smart-trades takes and answers.

The create body is a smart trade's own parameters (``SmartTradeParams``: amount, entry,
take-profits, stop loss, trailing stop, timeout) with where it trades: exchange, symbol, paper
settings or a live credential, as a bot's. Unknown fields are refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autogrid.bots.fields import Amount, BotName, ExchangeId, Symbol
from autogrid.bots.schemas import BotSettings, PaperSettings
from autogrid.bots.smart_trade_params import (
    MAX_TIMEOUT_SECONDS,
    SmartTradeParams,
    TradeAmount,
    TrailingStopParams,
)
from autogrid.core.pagination import Page
from autogrid.models.bot import BotMode, BotStatus
from autogrid.orders.schemas import OrderRead
from autogrid.trading.strategies.smart_trade_config import MAX_ZONE_ORDERS


class SmartTradeCreate(BotSettings, SmartTradeParams):
    """A smart trade, created and started at once."""

    name: BotName = "smart trade"
    exchange: ExchangeId = "binance"
    symbol: Symbol


class SmartTradeTemplate(BaseModel):
    """What a signal source's buy signals open smart trades with. The signal gives the entry
    (market, its limit price, or its zone), the stop loss and the take-profits; the template
    where to trade, the symbol and amount when the signal has none, and the rest's defaults."""

    model_config = ConfigDict(extra="forbid")

    mode: BotMode = BotMode.PAPER
    credential_id: uuid.UUID | None = Field(None, description="live only: one of your API keys")
    paper: PaperSettings | None = Field(None, description="paper only")
    exchange: ExchangeId = "binance"
    symbol: Symbol | None = Field(None, description="when the signal names none")
    amount: TradeAmount | None = Field(None, description="when the signal gives none")
    zone_orders: Annotated[int, Field(ge=1, le=MAX_ZONE_ORDERS)] = 3
    move_to_break_even_after_first_tp: bool = False
    trailing_stop: TrailingStopParams | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None = None

    @model_validator(mode="after")
    def _fits_mode(self) -> SmartTradeTemplate:
        if self.mode is BotMode.PAPER and (self.paper is None or self.credential_id is not None):
            raise ValueError("a paper template needs paper settings and no credential_id")
        if self.mode is BotMode.LIVE and (self.credential_id is None or self.paper is not None):
            raise ValueError("a live template needs a credential_id and no paper settings")
        return self


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
    close_refusals: int = Field(
        description="how many times in a row its sale at market was refused before the book "
        "(not enough funds, a risk limit); 0 once one fills"
    )
    close_retry_at: datetime | None = Field(
        description="when a refused sale at market is placed again (then less and less often, "
        "at most every 16 minutes, while the refusals go on); null when none is waiting"
    )
    take_profit_refusals: int = Field(
        description="how many times in a row its take-profits left the book unfilled (rejected "
        "by the exchange, a price filter say, or cancelled by someone else); 0 once one fills or "
        "they are seen resting"
    )
    take_profit_retry_at: datetime | None = Field(
        description="when take-profits that left the book unfilled are placed again (then less "
        "and less often, at most every 16 minutes); null when none is waiting"
    )
    realized_pnl: Amount = Field(description="quote, fees included")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


class SmartTradeDetail(SmartTradeRead):
    orders: list[OrderRead] = Field(description="its orders, oldest first")


class SmartTradePage(Page[SmartTradeRead]):
    """A page of smart trades, newest first."""
