from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import JSONType, UTCDateTime
from autogrid.models.base import Base, Timestamps, UUIDPrimaryKey


class BacktestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class BacktestSweep(UUIDPrimaryKey, Timestamps, Base):
    """A parameter sweep: one base backtest run once per combination of the varied values.

    Its runs are ``Backtest`` rows with this ``sweep_id``; the ranking is computed from them."""

    __tablename__ = "backtest_sweeps"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    vary: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    rank_by: Mapped[str] = mapped_column(String(32), nullable=False)
    sort_order: Mapped[str] = mapped_column(String(4), nullable=False)
    runs: Mapped[int] = mapped_column(Integer, nullable=False)


class Backtest(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "backtests"
    __table_args__ = (Index("ix_backtests_user_id_status", "user_id", "status"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    sweep_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("backtest_sweeps.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=BacktestStatus.QUEUED, nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    progress: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The self-contained HTML report, rendered once by the worker (a few hundred kB): loaded
    # only by the report route, never by accident.
    report_html: Mapped[str | None] = mapped_column(Text, deferred=True, deferred_raiseload=True)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
