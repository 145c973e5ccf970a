from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from autogrid.models.base import Base, Timestamps, UUIDPrimaryKey


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class Plan(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"


# How many bots (running or not) each plan may own.
PLAN_BOT_LIMITS: dict[Plan, int] = {
    Plan.FREE: 3,
    Plan.STARTER: 10,
    Plan.PRO: 50,
    Plan.ENTERPRISE: 500,
}


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    # Stored lower-cased: the unique constraint is then case-insensitive on every backend.
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), default=Role.USER, nullable=False)
    plan: Mapped[str] = mapped_column(String(16), default=Plan.FREE, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # Carried by every token as "ver"; bumping it ("log out everywhere", a password change)
    # makes every token issued before useless at once, access tokens included.
    token_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False
    )

    @property
    def bot_limit(self) -> int:
        return PLAN_BOT_LIMITS[Plan(self.plan)]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN
