"""The event journal: one row per change that matters to a bot's owner.

Written in the same transaction as the change it describes (``autogrid.events.journal``), so a
rolled-back change leaves no event and a committed one always has its event.

``id`` is global and increasing: readers page with ``after_id``. On PostgreSQL an id is taken
when the row is inserted, not when its transaction commits, so a smaller id can become visible
after a larger one; a consumer resuming from the last id it saw must allow for that (re-read a
short window behind it) until delivery handles it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import JSONType, UTCDateTime
from autogrid.models.base import Base


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # One user's events across all bots, and one bot's, both in id order: one index range each.
        Index("ix_events_user_id_id", "user_id", "id"),
        Index("ix_events_bot_id_id", "bot_id", "id"),
        # The retention job deletes the oldest first.
        Index("ix_events_created_at", "created_at"),
        # SQLite would otherwise reuse the ids of deleted rows once the newest are gone (every
        # event pruned): a reader resuming after an old id would skip the new events.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # None only for account-level events (the kill switch).
    bot_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
