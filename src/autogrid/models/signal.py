"""External signal sources and the signals they sent.

A source's token is the credential (TradingView can send no headers): only its SHA-256 is
stored (``token_hash``, unique, so a post finds its source by one indexed lookup), with the first
characters for the owner to recognise it. A source targets one or more of its owner's bots
(``signal_source_bots``, foreign keys both ways, so deleting a bot removes it from every source).

Every post that reaches a source is one ``signals`` row with its outcome: the body as received
(capped by the request guard) and its hash, what the grammar understood (``parsed``) or where it
failed (``error_position``), and one result per target bot once executed (``results``). Ids
are increasing integers: the list pages by cursor like the event journal.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import JSONType, UTCDateTime, utcnow
from autogrid.models.base import Base, UUIDPrimaryKey


class SignalSource(UUIDPrimaryKey, Base):
    __tablename__ = "signal_sources"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True, nullable=False)
    token_prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    # Source addresses or networks (CIDR) allowed to post; empty: any address.
    allowed_ips: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    dedup_window_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    # Applies when a signal carries a timestamp but no max_lag of its own; None: no limit.
    max_lag_seconds: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written by every post: the write that finds the source by its token also locks its row, so
    # posts to one source decide "duplicate or not" one after the other (on SQLite too).
    last_signal_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The smart-trade template (``smart_trades.schemas.SmartTradeTemplate``, migration 0018): a
    # buy signal opens a smart trade with it; null: the source acts on its target bots only.
    smart_trade: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class SignalSourceBot(Base):
    """A bot a source's signals act on."""

    __tablename__ = "signal_source_bots"

    source_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("signal_sources.id", ondelete="CASCADE"), primary_key=True
    )
    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Signal(Base):
    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_user_id_id", "user_id", "id"),
        # The duplicate checks: same alert id, or same body hash received within the window.
        Index("ix_signals_source_id_alert_id", "source_id", "alert_id"),
        Index(
            "ix_signals_source_id_body_hash_received_at", "source_id", "body_hash", "received_at"
        ),
        # The sweep of accepted signals whose execution message was lost.
        Index("ix_signals_outcome_received_at", "outcome", "received_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    source_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("signal_sources.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    client_ip: Mapped[str | None] = mapped_column(String(45))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    body_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    alert_id: Mapped[str | None] = mapped_column(String(200))
    format: Mapped[str | None] = mapped_column(String(20))
    parsed: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # SignalOutcome
    reason: Mapped[str | None] = mapped_column(Text)
    error_position: Mapped[int | None] = mapped_column(Integer)
    # One {"bot_id", "outcome", "reason"} per target, written when the signal is executed.
    results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignalDelivery(Base):
    """A signal handed to one target bot whose own step acts on it (migration 0017).

    The signal's execution (a worker) writes the row; the bot's step, holding its lease, reads
    the rows still queued, acts on them in id order and marks them consumed in the transaction
    of its decision: a crash before that commit leaves them queued, and one row per (signal,
    bot) means a task delivered twice queues once."""

    __tablename__ = "signal_deliveries"
    __table_args__ = (
        UniqueConstraint("signal_id", "bot_id"),
        # A step's read: this bot's rows still queued, oldest first.
        Index("ix_signal_deliveries_bot_id_consumed_at", "bot_id", "consumed_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    signal_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("signals.id", ondelete="CASCADE"),
        nullable=False,
    )
    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), nullable=False
    )
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
