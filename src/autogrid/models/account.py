"""Account-level risk rows: a user's limits over all their bots, the realised P&L each bot
booked per day, and which limit already told its owner it was reached today.

``account_limits`` is also the lock that serialises the entries of one user's bots: a decision
with an entry to check takes ``SELECT ... FOR UPDATE`` on it before reading today's figures, so
two bots deciding at once never both see the last free trade (see ``risk.standing``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import Money, UTCDateTime
from autogrid.models.base import Base


class AccountLimit(Base):
    """One row per user who set limits; a None column is no limit."""

    __tablename__ = "account_limits"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    max_trades_per_day: Mapped[int | None] = mapped_column(Integer)
    max_daily_loss: Mapped[Decimal | None] = mapped_column(Money)
    max_risk_per_trade_pct: Mapped[Decimal | None] = mapped_column(Money)
    max_open_positions: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class BotDay(Base):
    """The realised P&L a bot booked on one UTC day, in its quote currency and valued in USDT
    at each booking (``risk.standing.book_realized``: as soon as a step sees the fills).

    One row per bot, not per user: bots of one user booking at once never wait on each other."""

    __tablename__ = "bot_days"
    __table_args__ = (Index("ix_bot_days_user_id_day", "user_id", "day"),)

    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    realized_pnl: Mapped[Decimal] = mapped_column(Money, nullable=False)  # in ``quote``
    quote: Mapped[str] = mapped_column(String(20), nullable=False, server_default="")
    # Each booking valued at its own time's rate; the daily loss limit sums these.
    realized_usdt: Mapped[Decimal] = mapped_column(
        Money, nullable=False, default=Decimal(0), server_default="0"
    )
    # Booked while no USDT rate of ``quote`` was known (in quote): a loss here refuses entries.
    unvalued_pnl: Mapped[Decimal] = mapped_column(
        Money, nullable=False, default=Decimal(0), server_default="0"
    )
    usdt_rate: Mapped[Decimal | None] = mapped_column(Money)  # the last rate a booking used


class AccountLimitNotice(Base):
    """A limit that refused an entry on a day: its owner is told once, not at every tick."""

    __tablename__ = "account_limit_notices"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
