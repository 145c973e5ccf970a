"""The paper exchange's own state: simulated accounts, their balances, orders and trades.

These tables play the part of a remote exchange's books, so they are written only by
``autogrid.exchanges.paper`` (each of its calls is one transaction, like a request to an exchange)
and never in the caller's transaction. Our record of a bot's orders stays in ``orders``/``fills``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import Money, UTCDateTime
from autogrid.models.base import Base, Timestamps, UUIDPrimaryKey

# SQLite only auto-increments an INTEGER PRIMARY KEY, not a BIGINT one.
_ROW_ID = BigInteger().with_variant(Integer, "sqlite")
# Binance: a client order id is unique only among the account's OPEN orders.
OPEN_CLIENT_ID_INDEX = "uq_paper_orders_open_client_order_id"
_OPEN_ONLY = text("status = 'open'")


class PriceSourceKind(StrEnum):
    REPLAY = "replay"  # stored candles played back on a clock of configurable speed
    LIVE = "live"  # a real exchange's public data


class PaperAccount(UUIDPrimaryKey, Timestamps, Base):
    """One simulated exchange account and its clock.

    Replay time is ``replay_start + (wall_now - replay_anchor) * replay_speed``. ``matched_until``
    is the exchange's "now": every candle that closed at or before it has been matched against
    the resting orders, and no later one.
    """

    __tablename__ = "paper_accounts"
    __table_args__ = (
        CheckConstraint("price_source IN ('replay', 'live')", name="price_source"),
        CheckConstraint(
            "price_source = 'live' OR (replay_start IS NOT NULL AND replay_anchor IS NOT NULL "
            "AND replay_speed IS NOT NULL)",
            name="replay_clock",
        ),
    )

    # Nullable: the demo and tests run accounts nobody owns.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    maker_fee: Mapped[Decimal] = mapped_column(Money, nullable=False)
    taker_fee: Mapped[Decimal] = mapped_column(Money, nullable=False)
    slippage: Mapped[Decimal] = mapped_column(Money, nullable=False)
    price_source: Mapped[str] = mapped_column(String(8), nullable=False)
    # Candles matched against resting orders ("1m" for the live source).
    timeframe: Mapped[str] = mapped_column(String(8), nullable=False)
    replay_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replay_speed: Mapped[Decimal | None] = mapped_column(Money)
    replay_anchor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    matched_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


def bot_account_label(bot_id: uuid.UUID) -> str:
    """The label of a bot's paper accounts: its current one, and any its paper settings
    replaced (a bot's delete finds them all by it)."""
    return f"bot {bot_id}"


class PaperBalance(Base):
    __tablename__ = "paper_balances"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("paper_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    free: Mapped[Decimal] = mapped_column(Money, nullable=False)
    locked: Mapped[Decimal] = mapped_column(Money, nullable=False)


class PaperOrder(Timestamps, Base):
    __tablename__ = "paper_orders"
    __table_args__ = (
        Index("ix_paper_orders_account_id_status", "account_id", "status"),
        Index("ix_paper_orders_account_id_client_order_id", "account_id", "client_order_id"),
        # The check in the locked transaction is what rejects a duplicate; this is the backstop.
        Index(
            OPEN_CLIENT_ID_INDEX,
            "account_id",
            "client_order_id",
            unique=True,
            postgresql_where=_OPEN_ONLY,
            sqlite_where=_OPEN_ONLY,
        ),
    )

    # Also the matching sequence: orders a candle reaches at the same point fill oldest first.
    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("paper_accounts.id", ondelete="CASCADE"), nullable=False
    )
    client_order_id: Mapped[str] = mapped_column(String(36), nullable=False)
    exchange_order_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    symbol: Mapped[str] = mapped_column(String(40), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    type: Mapped[str] = mapped_column(String(8), nullable=False)
    price: Mapped[Decimal | None] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    filled: Mapped[Decimal] = mapped_column(Money, nullable=False)
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    # Still reserved for this order: quote for a buy (fee included), base for a sell.
    locked: Mapped[Decimal] = mapped_column(Money, nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, nullable=False)
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    # The exchange clock when it was placed; it rests from the first candle opening at or after.
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PaperTrade(Base):
    __tablename__ = "paper_trades"
    __table_args__ = (Index("ix_paper_trades_account_id_ts", "account_id", "ts"),)

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        _ROW_ID, ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True, nullable=False
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("paper_accounts.id", ondelete="CASCADE"), nullable=False
    )
    trade_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, nullable=False)
    fee_currency: Mapped[str] = mapped_column(String(16), nullable=False)
    is_maker: Mapped[bool] = mapped_column(Boolean, nullable=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # when it settled
    # When the price was there: a candle match's open (``ts`` is its close); null before 0020.
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
