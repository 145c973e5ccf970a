"""One row per recurring-buy slot a DCA bot dealt with by buying: the slot's once-only key.

The row is inserted in the same transaction as the slot's market-buy order (or its denial), with a
unique key on (bot, slot): a second beat, a redelivered tick or a worker that restarted after a
crash finds the slot taken and places nothing. Slots dropped by the catch-up policy leave no row;
the bot's state counts them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import Money, UTCDateTime, utcnow
from autogrid.models.base import Base, UUIDPrimaryKey


class ScheduledBuy(UUIDPrimaryKey, Base):
    __tablename__ = "scheduled_buys"
    __table_args__ = (
        UniqueConstraint("bot_id", "slot_at", name="uq_scheduled_buys_bot_id_slot_at"),
        Index("ix_scheduled_buys_order_id", "order_id"),
    )

    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), nullable=False
    )
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    quote_amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    # The market buy placed for the slot (DENIED if the breaker or the market refused it).
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="SET NULL")
    )
    # Slots dropped before this one by the catch-up policy.
    missed_before: Mapped[int] = mapped_column(default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
