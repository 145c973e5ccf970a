"""Messages of the live protocol (docs/live-events.md)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from autogrid.core.number_patterns import digits_up_to
from autogrid.events.types import EventType
from autogrid.live.tickets import TICKET_TTL_SECONDS

MAX_EVENT_ID = 2**63 - 1
# The ``Last-Event-ID`` header as text: an event id, no more (a bigint's maximum).
LAST_EVENT_ID_PATTERN = digits_up_to(MAX_EVENT_ID)
MAX_BOT_FILTERS = 100


class TicketRead(BaseModel):
    ticket: str = Field(description="pass as ?ticket= when connecting; works once")
    expires_in: int = Field(TICKET_TTL_SECONDS, description="seconds it stays valid")


class SubscribeMessage(BaseModel):
    """The client's first message on the WebSocket."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["subscribe"]
    bot_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_BOT_FILTERS)
    types: list[EventType] = Field(default_factory=list, max_length=len(EventType))
    last_event_id: int | None = Field(default=None, ge=0, le=MAX_EVENT_ID)
