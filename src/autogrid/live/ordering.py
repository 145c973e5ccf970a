"""Which journal ids are safe to deliver, in id order, when ids can become visible out of order.

On PostgreSQL an id is drawn when its row is inserted and becomes visible when its transaction
commits, so a reader can see id 12 before id 11. Delivering 12 first would break id order, and a
client resuming after 12 would never get 11. The tracker releases ids only up to the first hole
and holds the rest back until the hole fills or has stayed empty for ``grace`` seconds (a
rolled-back transaction, or a row deleted before anyone read it, leaves a hole forever).

On SQLite writers are serialised and an id is drawn inside the writing transaction, so ids become
visible in id order: holes there are never waited for (``strict=False``).

Pure: time is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hole:
    first: int
    last: int
    seen_at: float


class IdReleaser:
    def __init__(self, settled: int, *, grace: float, strict: bool = True) -> None:
        # Every id up to ``settled`` was released or given up on; never goes back.
        self.settled = settled
        self._grace = grace
        self._strict = strict
        self._holes: list[Hole] = []

    def release(self, ids: Sequence[int], now: float) -> int:
        """How many of ``ids`` (ascending, all above ``settled``, as read now) may be delivered:
        always a prefix. ``settled`` moves to the last released id."""
        holes: list[Hole] = []
        released = 0
        expected = self.settled + 1
        for id_ in ids:
            if id_ > expected and self._strict:
                hole = Hole(expected, id_ - 1, self._seen_at(expected, id_ - 1, now))
                if now - hole.seen_at < self._grace:
                    holes.append(hole)
                    break
            released += 1
            expected = id_ + 1
        if released:
            self.settled = ids[released - 1]
        self._holes = holes
        return released

    def _seen_at(self, first: int, last: int, now: float) -> float:
        """When any part of this hole was first seen: a hole that shrinks keeps its age."""
        overlapping = [h.seen_at for h in self._holes if h.first <= last and first <= h.last]
        return min(overlapping, default=now)

    @property
    def waiting(self) -> bool:
        """Whether ids are held back behind a hole."""
        return bool(self._holes)
