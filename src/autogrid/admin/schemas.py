"""Request bodies of /admin."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from autogrid.models.user import Plan, Role


class AdminUserUpdate(BaseModel):
    """Fields left out (or null) keep their value."""

    model_config = ConfigDict(extra="forbid")

    plan: Plan | None = None
    role: Role | None = None
    is_active: bool | None = None
