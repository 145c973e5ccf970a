"""A bot's stored settings, validated once per distinct content for its read model.

A bot's read (``schemas.bot_read``) validated its stored strategy parameters, paper settings and
breaker settings into their models at every read: three quarters of its read model's validation
(~15 us of a grid bot's ~25 us, three times per list of three bots), for settings that change
only when their owner edits them. ``validated`` remembers the model made of each distinct stored
value, keyed by its ``repr`` (a column's decoded JSON: one text for one content), so a read
takes the very instance validation made of that content. Keyed by content, never by bot: a
bot's edited settings are another key, so no read ever answers with settings it no longer has.

The read model takes the instance as it is (pydantic never revalidates nor copies a model
instance), so every answer is byte for byte what validating the stored value gives; nothing
changes a read model once it is made.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# Distinct stored values kept (a user's bots share a few); past this many the memory starts
# afresh rather than grow with every edit.
MAX_REMEMBERED = 2048

_remembered: dict[tuple[type[BaseModel], str], BaseModel] = {}


def validated(model: type[M], data: Any) -> M:
    """``model.model_validate(data)``, from memory for a value read before. A value that fails
    validation raises as it would, and is not remembered."""
    key = (model, repr(data))
    found = _remembered.get(key)
    if found is not None and type(found) is model:
        return found
    made = model.model_validate(data)
    if len(_remembered) >= MAX_REMEMBERED:
        _remembered.clear()
    _remembered[key] = made
    return made
