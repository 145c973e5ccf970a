"""Events as Telegram text: one message per chat per delivery pass.

Telegram allows about one message a second per chat, so the events a pass claimed for one chat
become one message. Events of one kind from one bot are grouped: a burst of fills reads
"12 fills on bot grid-1" with the first few listed, not twelve messages. Plain text (no
``parse_mode``): a bot name or an exchange's error can contain any character.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autogrid.events.types import EventType
from autogrid.notifications.severity import SEVERITY, Severity

LISTED_PER_GROUP = 3
MAX_CHARS = 4000  # under Telegram's 4096, room for the "... more" line
_MARK = {Severity.ERROR: "❗", Severity.WARNING: "⚠️", Severity.INFO: "•"}


@dataclass(frozen=True, slots=True)
class EventLine:
    event_id: int
    type: str
    bot_id: uuid.UUID | None
    message: str


def _plural(event_type: str, count: int) -> str:
    name = event_type.replace("_", " ")
    return name if count == 1 else f"{name}s"


def _group(events: Sequence[EventLine]) -> list[list[EventLine]]:
    """Events of one (bot, type), in the order each group first appeared."""
    groups: dict[tuple[uuid.UUID | None, str], list[EventLine]] = {}
    for event in events:
        groups.setdefault((event.bot_id, event.type), []).append(event)
    return list(groups.values())


def render(events: Sequence[EventLine], bot_names: Mapping[uuid.UUID, str]) -> str:
    lines: list[str] = []
    for group in _group(events):
        first = group[0]
        mark = _MARK[SEVERITY.get(EventType(first.type), Severity.INFO)]
        where = (
            f"bot {bot_names.get(first.bot_id, str(first.bot_id)[:8])}"
            if first.bot_id
            else "account"
        )
        if len(group) == 1:
            lines.append(f"{mark} [{where}] {first.message}")
            continue
        lines.append(f"{mark} {len(group)} {_plural(first.type, len(group))} on {where}:")
        lines.extend(f"   {event.message}" for event in group[:LISTED_PER_GROUP])
        if len(group) > LISTED_PER_GROUP:
            lines.append(f"   … and {len(group) - LISTED_PER_GROUP} more")
    text = "\n".join(lines)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit("\n", 1)[0] + "\n… (more in AutoGrid)"
    return text
