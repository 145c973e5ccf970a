"""Bodies and answers of /admin."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autogrid.events.types import EventType
from autogrid.models.bot import BotStatus
from autogrid.models.user import Plan, Role


class AdminUserUpdate(BaseModel):
    """Fields left out (or null) keep their value."""

    model_config = ConfigDict(extra="forbid")

    plan: Plan | None = None
    role: Role | None = None
    is_active: bool | None = None


class AdminBotRead(BaseModel):
    """A bot as the administrators see it: whose it is, what state it is in, and why."""

    id: uuid.UUID
    user_id: uuid.UUID
    owner_email: str
    name: str
    type: str
    exchange: str
    symbol: str
    mode: str
    status: BotStatus
    error: str | None = Field(description="why the bot is in error, if it is")
    breaker_reason: str | None = Field(description="why the breaker halted it, if it did")
    last_tick_at: datetime | None
    updated_at: datetime


class WorkerRead(BaseModel):
    name: str = Field(description="Celery's node name, celery@host")
    pid: int | None
    concurrency: int | None
    tasks_done: int = Field(description="tasks this worker ran since it started")


class FleetRead(BaseModel):
    workers: list[WorkerRead] | None = Field(
        description="workers that answered the broker's broadcast; null where it cannot ask"
    )
    workers_note: str | None = Field(
        description="why workers (or queues) is null, if it is: the embedded broker cannot "
        "broadcast, or the broker did not answer"
    )
    queues: dict[str, int] | None = Field(
        description="messages waiting in each task queue; null when the broker did not answer"
    )
    bots: dict[str, int] = Field(description="bots of every user by status")
    tick_lag_seconds: float = Field(
        description="how far the most overdue running bot is past its next tick (0: on time)"
    )


class ProblemRead(BaseModel):
    """An event that needs a person (an error, a breaker trip, an order given up...)."""

    id: int
    type: EventType
    user_id: uuid.UUID
    owner_email: str
    bot_id: uuid.UUID | None
    bot_name: str | None
    message: str
    data: dict[str, Any] | None
    created_at: datetime


class ProblemPage(BaseModel):
    items: list[ProblemRead]
    next_before_id: int | None = Field(
        description="pass as before_id for older problems; null when there are none"
    )
