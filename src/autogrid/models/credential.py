from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.core.sqltypes import JSONType, UTCDateTime
from autogrid.models.base import Base, Timestamps, UUIDPrimaryKey


class ExchangeCredential(UUIDPrimaryKey, Timestamps, Base):
    """An exchange API key. Secrets are only ever stored encrypted, bound to this row and owner."""

    __tablename__ = "exchange_credentials"
    __table_args__ = (UniqueConstraint("user_id", "label"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    exchange: Mapped[str] = mapped_column(String(32), nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    api_key_masked: Mapped[str] = mapped_column(String(32), nullable=False)
    api_key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    api_secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    passphrase_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_version: Mapped[int] = mapped_column(Integer, nullable=False)
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    permissions: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
