"""Exact secret strings to scrub from log lines: bounded, and matched without a regex.

Each registered value is indexed by its first ``PREFIX_LENGTH`` characters (and so are its
percent-encoded forms, the way a secret shows up in a query string or form body). Scrubbing a line
looks the ``PREFIX_LENGTH`` characters at each position up in that index, so it costs O(length of
the line) whatever the number of secrets, and registering one is a few dict insertions: nothing is
recompiled on the event loop. The registry keeps at most ``capacity`` values and forgets the least
recently used first; values can be grouped under an owner (a credential id) and forgotten together.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from urllib.parse import quote, quote_plus

# Shorter values would blank out ordinary words and numbers all over the logs; exchange API keys,
# secrets and passphrases are longer (a passphrase can be as short as this). Also the length of
# the index prefix.
MIN_SECRET_LENGTH = 6
PREFIX_LENGTH = MIN_SECRET_LENGTH
# A process uses a few keys per bot it runs; this bounds what a flood of credentials can add.
DEFAULT_CAPACITY = 4096


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value)}


class SecretRegistry:
    """Thread-safe: log records are scrubbed in whichever thread emits them."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        # value -> owner (None when registered without one), least recently used first.
        self._values: OrderedDict[str, Hashable | None] = OrderedDict()
        # first PREFIX_LENGTH characters of a form -> the forms (of any value) starting so.
        self._by_prefix: dict[str, set[str]] = {}
        # a form -> how many registered values produce it (two values can share a form).
        self._form_count: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str, owner: Hashable | None = None) -> bool:
        """Register ``value``; False (ignored) when it is shorter than ``MIN_SECRET_LENGTH``."""
        if len(value) < MIN_SECRET_LENGTH:
            return False
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                if owner is not None:
                    self._values[value] = owner
                return True
            self._values[value] = owner
            for form in _forms(value):
                self._index(form)
            while len(self._values) > self._capacity:
                evicted, _ = self._values.popitem(last=False)
                self._unindex_value(evicted)
        return True

    def discard(self, value: str) -> None:
        with self._lock:
            if self._values.pop(value, _MISSING) is not _MISSING:
                self._unindex_value(value)

    def discard_owner(self, owner: Hashable) -> int:
        """Forget every value registered under ``owner``; returns how many."""
        with self._lock:
            owned = [value for value, holder in self._values.items() if holder == owner]
            for value in owned:
                del self._values[value]
                self._unindex_value(value)
        return len(owned)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._by_prefix.clear()
            self._form_count.clear()

    def redact(self, text: str, replacement: str) -> str:
        """``text`` with every registered value (longest match first) replaced."""
        if len(text) < PREFIX_LENGTH:
            return text
        with self._lock:
            if not self._by_prefix:
                return text
            return self._redact_locked(text, replacement)

    def _redact_locked(self, text: str, replacement: str) -> str:
        pieces: list[str] = []
        kept_from = position = 0
        last_start = len(text) - PREFIX_LENGTH
        by_prefix = self._by_prefix
        while position <= last_start:
            candidates = by_prefix.get(text[position : position + PREFIX_LENGTH])
            if candidates:
                found = max(
                    (form for form in candidates if text.startswith(form, position)),
                    key=len,
                    default=None,
                )
                if found is not None:
                    pieces.append(text[kept_from:position])
                    pieces.append(replacement)
                    position = kept_from = position + len(found)
                    continue
            position += 1
        if not pieces:
            return text
        pieces.append(text[kept_from:])
        return "".join(pieces)

    def _index(self, form: str) -> None:
        count = self._form_count.get(form, 0)
        self._form_count[form] = count + 1
        if count == 0:
            self._by_prefix.setdefault(form[:PREFIX_LENGTH], set()).add(form)

    def _unindex_value(self, value: str) -> None:
        for form in _forms(value):
            count = self._form_count.get(form, 0) - 1
            if count > 0:
                self._form_count[form] = count
                continue
            self._form_count.pop(form, None)
            bucket = self._by_prefix.get(form[:PREFIX_LENGTH])
            if bucket is not None:
                bucket.discard(form)
                if not bucket:
                    del self._by_prefix[form[:PREFIX_LENGTH]]


_MISSING = object()
