"""Reading a decoded JSON signal field by field, with case-insensitive keys and error positions.

JSON decoders drop positions, so a field's position is where its key appears in the body: close
enough for a person to find the fault. Every key must be either read or declared ignorable; a key
nobody reads is refused, because a sender who writes `"leverage": 10` or `"volume": 5` means
something we would otherwise silently not do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.signals.grammar import values
from autogrid.signals.model import SignalParseError

MAX_TEXT_VALUE = 100
_SPELLING = re.compile(r"[-_. ]")


def normal_key(key: str) -> str:
    """Keys compare case-, underscore- and dash-insensitively: stop_loss, stopLoss, Stop-Loss."""
    return _SPELLING.sub("", key.lower())


class JsonFields:
    def __init__(self, document: dict[str, Any], body: str, parent: str | None = None) -> None:
        self._body = body
        self._parent = parent
        self._by_lower: dict[str, tuple[str, Any]] = {}
        for key, value in document.items():
            lower = normal_key(key)
            if lower in self._by_lower:
                raise SignalParseError(f"key {key!r} appears twice", self._where(key))
            self._by_lower[lower] = (key, value)
        self._read: set[str] = set()

    def _where(self, key: str) -> int:
        return values.key_position(self._body, key, 0, after=self._parent)

    def position(self, *names: str) -> int:
        for name in map(normal_key, names):
            if name in self._by_lower:
                return self._where(self._by_lower[name][0])
        return 0

    def take(self, *names: str) -> tuple[Any, int] | None:
        """The first of `names` present; all count as read, and two present is an error."""
        names = tuple(map(normal_key, names))
        found = [name for name in names if name in self._by_lower]
        self._read.update(names)
        if not found:
            return None
        if len(found) > 1:
            second = self._by_lower[found[1]][0]
            raise SignalParseError(
                f"{self._by_lower[found[0]][0]!r} and {second!r} say the same thing; give one",
                self._where(second),
            )
        key, value = self._by_lower[found[0]]
        return value, self._where(key)

    def text(self, *names: str, limit: int = MAX_TEXT_VALUE) -> tuple[str, int] | None:
        found = self.take(*names)
        if found is None:
            return None
        value, at = found
        if not isinstance(value, str):
            raise SignalParseError(f"{names[0]} must be a string or a number", at)
        if not value.strip() or len(value) > limit:
            raise SignalParseError(f"{names[0]} must be 1 to {limit} characters", at)
        return value.strip(), at

    def positive(self, *names: str) -> tuple[Decimal, int] | None:
        found = self.text(*names)
        if found is None:
            return None
        raw, at = found
        return values.parse_positive(raw, at, names[0]), at

    def time(self, *names: str) -> tuple[datetime, int] | None:
        found = self.text(*names)
        if found is None:
            return None
        return values.parse_time(*found), found[1]

    def lag(self, *names: str) -> int | None:
        found = self.text(*names)
        return None if found is None else values.parse_lag(*found)

    def nested(self, name: str) -> JsonFields | None:
        found = self.take(name)
        if found is None:
            return None
        value, at = found
        if not isinstance(value, dict):
            raise SignalParseError(f"{name} must be an object", at)
        return JsonFields(value, self._body, parent=self._by_lower[normal_key(name)][0])

    def ignore(self, names: Iterable[str]) -> None:
        self._read.update(map(normal_key, names))

    def refuse_unread(self) -> None:
        for lower, (key, _) in self._by_lower.items():
            if lower not in self._read:
                raise SignalParseError(f"unknown field {key[:40]!r}", self._where(key))

    def __contains__(self, name: str) -> bool:
        return normal_key(name) in self._by_lower

    def raw(self, name: str) -> Any:
        """The value of `name` without marking it read (None when absent)."""
        found = self._by_lower.get(normal_key(name))
        return None if found is None else found[1]
