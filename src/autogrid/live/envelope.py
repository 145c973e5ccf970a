"""The one envelope every live message travels in: ``{"id", "ts", "type", "bot_id", "data"}``.

A journal event carries its own id and type. Control messages (``subscribed``,
``resync_required``, ``error``) carry ``"id": null`` and a type that no event type uses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from autogrid.models import Event


class Control(StrEnum):
    SUBSCRIBED = "subscribed"
    RESYNC_REQUIRED = "resync_required"
    ERROR = "error"


def event_envelope(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "ts": event.created_at.isoformat(),
        "type": event.type,
        "bot_id": str(event.bot_id) if event.bot_id else None,
        "data": event.data,
    }


def control_envelope(kind: Control, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": None,
        "ts": datetime.now(UTC).isoformat(),
        "type": kind.value,
        "bot_id": None,
        "data": data,
    }


def dumps(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, separators=(",", ":"))
