"""Body and response of the kill-switch routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class KillSwitchEngage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class KillSwitchRead(BaseModel):
    engaged: bool
    reason: str | None
    changed_by: uuid.UUID | None
    changed_at: datetime | None
    halted_bots: int | None = Field(None, description="bots halted by this engagement")
