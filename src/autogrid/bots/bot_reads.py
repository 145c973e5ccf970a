"""A bot's read model from its read row, made once per distinct row.

The list and the detail read a bot as a Core row of the columns its read model shows, its JSON
columns as their text (``repository``). Building the read model from a row (decoding the JSON,
validating the settings and the model) cost more than the rest of a bot's share of a list read,
for rows that change only when their owner edits the bot or a worker changes its status.
``bot_read_of_row`` so remembers the read model made of each distinct row, keyed by the row's
values: any change to a shown column (an edit, a status, a trip, ``updated_at``) is another key,
so a read never answers with anything but what building it from this row gives. Read models are
never changed once made, so one instance can answer many reads.

A DCA bot's read is not remembered: its recurring buys' next runs depend on the time of the read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

from autogrid.bots.repository import READ_ROW_LENGTH
from autogrid.bots.schemas import AnyBotRead, bot_read
from autogrid.models.bot import BotType

# Distinct rows kept (a user's list is a few dozen); past this many the memory starts afresh.
MAX_REMEMBERED = 4096

_remembered: dict[tuple[Any, ...], AnyBotRead] = {}


def bot_read_of_row(row: Row[Any]) -> AnyBotRead:
    """``bot_read(row)``, from memory for a row read before."""
    if row.type == BotType.DCA:
        return bot_read(row)
    key = tuple(row[:READ_ROW_LENGTH])  # not the list's total, which is no part of a bot
    found = _remembered.get(key)
    if found is not None:
        return found
    made = bot_read(row)
    if len(_remembered) >= MAX_REMEMBERED:
        _remembered.clear()
    _remembered[key] = made
    return made
