from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import JSONType, Money, UTCDateTime
from autogrid.models.base import Base, Timestamps, UUIDPrimaryKey


class BotType(StrEnum):
    GRID = "grid"
    DCA = "dca"
    INDICATOR = "indicator"
    SIGNAL = "signal"  # trades on what its signal sources send (``SignalBotStrategy``)
    SMART_TRADE = "smart_trade"  # one trade with its exits set in advance (/smart-trades)


class BotMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class BotStatus(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    HALTED = "halted"  # the circuit breaker tripped: no new orders until reset
    ERROR = "error"  # the strategy raised or the exchange needs a human (e.g. a revoked key)


class Bot(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "bots"
    __table_args__ = (Index("ix_bots_status_next_tick_at", "status", "next_tick_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(40), nullable=False)
    mode: Mapped[str] = mapped_column(String(8), default=BotMode.PAPER, nullable=False)
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("exchange_credentials.id", ondelete="RESTRICT"), index=True
    )
    paper: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default=BotStatus.STOPPED, nullable=False)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    investment: Mapped[Decimal | None] = mapped_column(Money)
    tick_interval_seconds: Mapped[int] = mapped_column(Integer, default=5, nullable=False)
    next_tick_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_tick_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Lease: the one worker allowed to drive this bot until lease_expires_at.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breaker_reason: Mapped[str | None] = mapped_column(Text)
    breaker_tripped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who took the bot out of running (migration 0016): "owner" (a stop asked through the API
    # or a chat) or "bot" (an error, the breaker, the strategy or the replay's end, an order
    # given up); null while it runs or never ran.
    stop_initiator: Mapped[str | None] = mapped_column(String(8))
    # Bumped on every write of config/state so a stale writer is detected instead of winning.
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class BotMetric(Base):
    """A point of a bot's performance over time (a hypertable where TimescaleDB exists)."""

    __tablename__ = "bot_metrics"

    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    equity: Mapped[Decimal] = mapped_column(Money, nullable=False)
    realized_pnl: Mapped[Decimal] = mapped_column(Money, nullable=False)
    unrealized_pnl: Mapped[Decimal] = mapped_column(Money, nullable=False)
    position: Mapped[Decimal] = mapped_column(Money, nullable=False)
    price: Mapped[Decimal | None] = mapped_column(Money)
