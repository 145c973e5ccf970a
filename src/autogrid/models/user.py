from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

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


class UserIdentity(Protocol):
    """What services read of the user they act for: the row (``User``) or its cached copy
    (``AuthUser``) both fit, and neither can be written through it."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def email(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def plan(self) -> str: ...

    @property
    def token_version(self) -> int: ...

    @property
    def is_admin(self) -> bool: ...

    @property
    def bot_limit(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AuthUser:
    """The signed-in user as authentication and read-only routes see them (an immutable copy,
    see ``auth.user_cache``): never the password hash."""

    id: uuid.UUID
    email: str
    role: str
    plan: str
    is_active: bool
    token_version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> AuthUser:
        return cls(
            id=user.id,
            email=user.email,
            role=user.role,
            plan=user.plan,
            is_active=user.is_active,
            token_version=user.token_version,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def bot_limit(self) -> int:
        return PLAN_BOT_LIMITS[Plan(self.plan)]
