"""Rows the bot runtime keeps besides orders and fills: the strategy's fill inbox, the kill switch.

``strategy_inbox``: a fill is recorded (``fills``) when the order manager learns of it, but the
strategy sees it only at its next decision. The inbox row is written in the fill's transaction and
deleted in the transaction that saves the strategy state which absorbed it, so every fill reaches
the strategy exactly once, across crashes and worker changes.

``kill_switch``: one row per scope ("global" for now); every tick reads it before deciding.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import UTCDateTime
from autogrid.models.base import Base

GLOBAL_KILL_SWITCH = "global"


class StrategyInboxEntry(Base):
    __tablename__ = "strategy_inbox"
    __table_args__ = (Index("ix_strategy_inbox_bot_id_id", "bot_id", "id"),)

    # Ordered: fills reach the strategy in the order the runtime learned them.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), nullable=False
    )
    # The fill's primary key (fills has no foreign keys: it may be a hypertable).
    fill_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    fill_ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class KillSwitch(Base):
    __tablename__ = "kill_switch"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    engaged: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
