"""Responses of a bot's stats and performance routes. Money is emitted as plain decimal strings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

# Signed money (P&L can be negative): plain decimal text, never a float or an exponent.
Money = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value.normalize():f}", return_type=str, when_used="json"),
]


class BotStats(BaseModel):
    """A bot's results from its fills, marked at the last price it traded at."""

    bot_id: uuid.UUID
    symbol: str
    base: str
    quote: str
    price: Money | None = Field(description="the last price the bot saw (unrealized P&L uses it)")
    position: Money = Field(description="base held from the bot's own trades")
    average_entry: Money | None = Field(description="average cost of the position, fees included")
    realized_pnl: Money
    unrealized_pnl: Money
    total_pnl: Money
    grid_profit: Money | None = Field(description="completed grid round trips (grid bots only)")
    fees: Money = Field(description="every fee, valued in the quote currency")
    investment: Money | None
    roi_pct: Money | None = Field(description="total P&L over the investment, in percent")
    trades: int
    buys: int
    sells: int
    volume: Money = Field(description="quote traded, before fees")


class MetricInterval(StrEnum):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def seconds(self) -> int:
        return {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}[self.value]


class MetricPointRead(BaseModel):
    ts: datetime = Field(description="the bucket's start; values are the bucket's last sample")
    equity: Money
    realized_pnl: Money
    unrealized_pnl: Money
    position: Money
    price: Money | None


class BotMetrics(BaseModel):
    bot_id: uuid.UUID
    interval: MetricInterval
    since: datetime
    until: datetime
    points: list[MetricPointRead]
