"""Notification channels: where a user's events are sent, and what each channel wants.

A channel's destination and secrets (a webhook URL, which may carry credentials, and its signing
secret) are stored only encrypted, bound to the channel's row and owner like exchange secrets
(``notifications.secrets``). ``target_masked`` is what answers show instead.

The subscription is kept twice: as the owner chose it (``event_types``, ``min_severity``,
``all_bots`` and the bot rows), for answers; and as the event types it actually lets through
(``NotificationChannelType``: the chosen types at or above the minimum severity), one row each,
so matching an event is one indexed lookup.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import JSONType, UTCDateTime
from autogrid.models.base import Base, Timestamps, UUIDPrimaryKey


class NotificationChannel(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("user_id", "label"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # ChannelKind
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)  # ChannelState
    target_masked: Mapped[str] = mapped_column(String(300), nullable=False)
    config_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    key_version: Mapped[int] = mapped_column(Integer, nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    min_severity: Mapped[str] = mapped_column(String(10), nullable=False)
    all_bots: Mapped[bool] = mapped_column(Boolean, nullable=False)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Telegram only (migration 0013): the SHA-256 of the pending one-time link code and its end,
    # and a keyed hash of the linked chat's id (the id itself is in the encrypted config).
    link_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    link_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    chat_lookup: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)


class NotificationChannelType(Base):
    """One event type a channel lets through (already filtered by its minimum severity)."""

    __tablename__ = "notification_channel_types"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("notification_channels.id", ondelete="CASCADE"), primary_key=True
    )
    event_type: Mapped[str] = mapped_column(String(40), primary_key=True)


class NotificationChannelBot(Base):
    """A bot a channel is limited to (none, with ``all_bots``, means every bot)."""

    __tablename__ = "notification_channel_bots"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("notification_channels.id", ondelete="CASCADE"), primary_key=True
    )
    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class NotificationDelivery(Base):
    """One attempt to send something to a channel (a test message or an event), kept for the
    owner to read (``GET /notifications/channels/{id}/deliveries``)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_channel_id_id", "channel_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False
    )
    # None for a test message; an event's id otherwise (no foreign key: the log outlives
    # the journal's retention).
    event_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    message_id: Mapped[str] = mapped_column(String(80), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class NotificationOutbox(Base):
    """One event to deliver to one channel. Written by the database itself, in the transaction
    that inserts the event (a trigger on ``events``, migration 0011), for each active channel of
    the event's owner whose subscription matches: the event and its deliveries commit together,
    whatever code wrote the event, and the writer does no extra work in Python.

    ``status``: pending (due at ``next_attempt_at``), delivered, or failed (attempts exhausted).
    A sender claims a pending row by moving ``next_attempt_at`` a lease ahead and counting the
    attempt; a sender killed mid-send leaves the row to be claimed again when the lease ends.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (
        UniqueConstraint("event_id", "channel_id"),
        Index("ix_notification_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_notification_outbox_channel_id", "channel_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("events.id", ondelete="CASCADE"),
        nullable=False,
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class BotStallAlert(Base):
    """The last dead-man alert of a bot: which ``last_tick_at`` it was about, so one stall is
    reported once and a bot that recovered and stalled again is reported again."""

    __tablename__ = "bot_stall_alerts"

    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True
    )
    last_tick_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    alerted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class TelegramUpdate(Base):
    """An update of the platform's Telegram bot that was handled: one delivered twice (a webhook
    retried, a poller restarted before it confirmed the offset) is skipped."""

    __tablename__ = "telegram_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, nullable=False)


class TelegramPoller(Base):
    """The one row (id 1) of getUpdates polling: the next offset to ask for, and the lease that
    lets one process at a time poll (Telegram answers 409 to concurrent getUpdates)."""

    __tablename__ = "telegram_poller"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger, nullable=False)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(64))


class NotificationPreferences(Base):
    """A user's notification settings (migration 0016): the time zone and local hour of the
    daily summary. No row: UTC, ``DEFAULT_SUMMARY_HOUR``."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)  # IANA name
    daily_summary_hour: Mapped[int] = mapped_column(Integer, nullable=False)  # 0-23, local
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class DailySummary(Base):
    """The daily summary sent to a user for one local day: its key makes it once a day, however
    many beats or workers run the job at once."""

    __tablename__ = "daily_summaries"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # the summary event (pruned later)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FleetAlertState(Base):
    """The one row (id 1) of the fleet watchdog: since when the workers have stopped consuming
    (null: they consume), so one stall is announced once and its end once."""

    __tablename__ = "fleet_alert_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stalled_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
