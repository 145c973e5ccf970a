"""What the journal's readers get back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autogrid.events.types import EventType
from autogrid.models import Event


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="global and increasing: page on with after_id")
    type: EventType
    bot_id: uuid.UUID | None = Field(description="None for account-level events (kill switch)")
    message: str
    data: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventRead:
        return cls.model_validate(event)


class BotEventRead(EventRead):
    """A bot's event; ``kind`` repeats ``type`` for readers written before the journal."""

    kind: EventType

    @classmethod
    def of(cls, event: Event) -> BotEventRead:
        return cls.model_validate({**EventRead.of(event).model_dump(), "kind": event.type})


class EventCursorPage(BaseModel):
    items: list[EventRead]
    # The id to pass as after_id for the next page; the request's own after_id when the page is
    # empty (nothing newer yet: ask again later with the same cursor).
    next_after_id: int
    has_more: bool
