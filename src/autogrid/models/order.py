from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import JSONType, Money, UTCDateTime
from autogrid.models.base import Base, Timestamps, UUIDPrimaryKey


class Order(UUIDPrimaryKey, Timestamps, Base):
    """Our record of one intended exchange order. Written (with its client order id) and committed
    before any network call, so a crash can always be resolved by asking the exchange for it."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_bot_id_status", "bot_id", "status"),
        Index("ix_orders_status_updated_at", "status", "updated_at"),
    )

    bot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("bots.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    client_order_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(40), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    type: Mapped[str] = mapped_column(String(8), nullable=False)
    price: Mapped[Decimal | None] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    filled: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), nullable=False)
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), nullable=False)
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    # What the strategy meant by it (its tag: grid level, DCA safety order...), echoed on fills.
    intent: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    unknown_checks: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # Only where the exchange cannot list one order's trades: how far (exchange time) the scan of
    # the symbol's trade history has looked for this order's; the next scan goes on from here.
    trades_scanned_to: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderEvent(Base):
    """Append-only audit of every order transition, written in the transition's own transaction."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id_seq", "order_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Fill(Base):
    """One trade against one of our orders; applied once per exchange trade id.

    The primary key includes ``ts`` because a TimescaleDB hypertable needs its time column in every
    unique index; an exchange reports a given trade with the same time, so this loses nothing.

    Two times: ``ts`` is when the trade settled, the exchange's trade time (a paper fill matched
    against a candle: the candle's close, when the bot learns of it, as in the backtest engine);
    ``executed_at`` when its price was there (that candle's open). ``traded_at`` is the time to
    show: ``executed_at``, or ``ts`` for rows written before it was kept.
    """

    __tablename__ = "fills"
    __table_args__ = (
        Index("ix_fills_order_id_trade_id", "order_id", "trade_id", "ts", unique=True),
        Index("ix_fills_bot_id_ts", "bot_id", "ts"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    bot_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    trade_id: Mapped[str] = mapped_column(String(64), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), nullable=False)
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    is_maker: Mapped[bool | None] = mapped_column()
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @hybrid_property
    def traded_at(self) -> datetime:
        return self.executed_at or self.ts

    @traded_at.inplace.expression
    @classmethod
    def _traded_at_expression(cls) -> ColumnElement[datetime]:
        return func.coalesce(cls.executed_at, cls.ts)
