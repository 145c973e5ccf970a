"""Responses of the account overview. Money is emitted as plain decimal strings; a figure that
cannot be valued is null, with the reason beside it, never left out."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from autogrid.performance.schemas import Money


class AccountKind(StrEnum):
    CREDENTIAL = "credential"
    PAPER = "paper"


class BalanceValue(BaseModel):
    currency: str
    free: Money
    locked: Money
    total: Money
    price_usdt: Money | None = Field(description="one unit in USDT; null: could not be valued")
    value_usdt: Money | None = Field(description="total x price_usdt; null: see reason")
    price_source: str | None = Field(
        description="unit (USDT itself), ticker (the exchange's last trade), stored_candle (the"
        " newest stored candle's close: the exchange did not answer), replay_candle (a replaying"
        " paper account: the close at its own clock)"
    )
    priced_at: datetime | None = Field(description="when that price was true")
    reason: str | None = Field(description="why there is no value, if there is none")


class OpenPosition(BaseModel):
    bot_id: uuid.UUID
    bot_name: str
    symbol: str
    amount: Money = Field(description="base the bot holds from its own trades")
    average_entry: Money | None = Field(description="average cost, fees included, in quote")
    unrealized_pnl_usdt: Money | None = Field(description="null: no price; see reason")
    reason: str | None = None


class AccountPortfolio(BaseModel):
    kind: AccountKind
    id: uuid.UUID
    label: str
    exchange: str
    available: bool = Field(description="false: the balances could not be read (see error)")
    error: str | None = None
    balances: list[BalanceValue]
    value_usdt: Money | None = Field(
        description="sum of the valued balances; null when the balances could not be read"
    )
    unvalued: list[str] = Field(description="currencies held that have no USDT value")
    bots: int = Field(description="bots trading on this account")
    realized_pnl_usdt: Money | None = Field(description="all time, from the bots' fills")
    realized_pnl_today_usdt: Money | None = Field(
        description="booked today (UTC), each booking valued in USDT at its own time (what"
        " has no rate at today's price): the figure the daily loss limit counts"
    )
    unrealized_pnl_usdt: Money | None = Field(description="open positions at the current price")
    pnl_reason: str | None = Field(description="why a P&L figure is null, if one is")
    trades_today: int = Field(description="fills since 00:00 UTC (exchange time)")
    wins: int = Field(description="sells that realised a gain, all time")
    losses: int = Field(description="sells that realised a loss, all time")
    win_rate_pct: Money | None = Field(description="wins / (wins + losses); null before any")
    open_positions: list[OpenPosition]


class AccountToday(BaseModel):
    """Today's figures as the account limits count them."""

    day: date
    entries: int = Field(description="buy orders placed today, all bots (max_trades_per_day)")
    realized_pnl: Money = Field(
        description="booked today in USDT, each booking valued at its own time (max_daily_loss)"
    )
    unvalued_pnl: dict[str, Money] = Field(
        description="P&L booked today while its quote currency had no USDT price, by currency;"
        " a loss here refuses new entries when max_daily_loss is set"
    )
    open_positions: int = Field(description="bots holding base or with a live buy")


class Portfolio(BaseModel):
    valued_at: datetime
    valuation: str = Field(description="how balances are valued (see each price_source)")
    value_usdt: Money = Field(description="the valued balances of every readable account")
    complete: bool = Field(description="false: some account or balance has no value")
    today: AccountToday
    accounts: list[AccountPortfolio]


class HistoryDay(BaseModel):
    day: date
    trades: int = Field(description="fills that day (exchange time)")
    realized_pnl_usdt: Money | None = Field(description="booked that day by the bots")
    equity_usdt: Money | None = Field(
        description="sum of the bots' last recorded equity that day (investment + P&L)"
    )
    unrealized_pnl_usdt: Money | None
    bots: int = Field(description="bots with a recorded sample that day")
    complete: bool = Field(description="false: a bot's quote currency had no USDT price")


class PortfolioHistory(BaseModel):
    days: int
    since: date
    until: date
    valuation: str
    points: list[HistoryDay]
