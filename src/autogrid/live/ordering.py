"""Which journal ids are safe to deliver, in id order, when ids can become visible out of order.

On PostgreSQL an id is drawn when its row is inserted and becomes visible when its transaction
commits, so a reader can see id 12 before id 11. Delivering 12 first would break id order, and a
client resuming after 12 would never get 11. The tracker releases ids only up to the first hole
and holds the rest back while a transaction that may still fill the hole is in flight.

The database says which transactions are in flight (a ``Horizon``: the transaction ids running in
this database). Every id in a hole was drawn before the id above the hole, which had committed
when it was read; so a transaction that can still fill the hole was already running then, and is
among those running just *after* that read (``running_after``): the hole's possible fillers.
When, at a later read, none of them was running just *before* it (``running_before``), each had
ended before the ids were read, so a commit of theirs would be among the ids: the hole that is
still there stays empty for ever (a rollback, or a row deleted before anyone read it) and is
given up without waiting. Only a later read counts, also because a transaction gets its
transaction id at its first write, a moment after it drew the event id. ``grace`` bounds the
wait whatever the database says (a transaction open for minutes must not freeze every stream),
and is all there is without horizons.

On SQLite writers are serialised and an id is drawn inside the writing transaction, so ids become
visible in id order: holes there are never waited for (``strict=False``).

Pure: time and horizons are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Horizon:
    """The ids of the transactions running in this database (the writers that may still commit
    journal rows), at one moment."""

    running: frozenset[int]


@dataclass(frozen=True, slots=True)
class Hole:
    first: int
    last: int
    seen_at: float
    # The transactions running when the hole was first seen: only they can fill it (None: unknown).
    fillers: frozenset[int] | None
    # Seen by an earlier read than the current one: ``fillers`` is complete by now.
    seen_before: bool


class IdReleaser:
    def __init__(self, settled: int, *, grace: float, strict: bool = True) -> None:
        # Every id up to ``settled`` was released or given up on; never goes back.
        self.settled = settled
        self._grace = grace
        self._strict = strict
        self._holes: list[Hole] = []

    def release(
        self,
        ids: Sequence[int],
        now: float,
        *,
        running_before: Horizon | None = None,
        running_after: Horizon | None = None,
    ) -> int:
        """How many of ``ids`` (ascending, all above ``settled``, as read now, between the two
        horizons) may be delivered: always a prefix. ``settled`` moves to the last released id.
        Every hole among ``ids`` is remembered, also those behind a waiting one."""
        holes: list[Hole] = []
        released = 0
        expected = self.settled + 1
        for id_ in ids:
            if id_ > expected and self._strict:
                hole = self._track(expected, id_ - 1, now, running_after)
                if holes or self._must_wait(hole, now, running_before):
                    holes.append(hole)
            if not holes:
                released += 1
            expected = id_ + 1
        if released:
            self.settled = ids[released - 1]
        self._holes = holes
        return released

    def _track(self, first: int, last: int, now: float, running_after: Horizon | None) -> Hole:
        """The hole as first seen: a hole that shrinks keeps its age and its possible fillers."""
        overlapping = [h for h in self._holes if h.first <= last and first <= h.last]
        if not overlapping:
            fillers = running_after.running if running_after is not None else None
            return Hole(first, last, now, fillers, seen_before=False)
        known = [h.fillers for h in overlapping if h.fillers is not None]
        return Hole(
            first,
            last,
            min(h.seen_at for h in overlapping),
            frozenset().union(*known) if len(known) == len(overlapping) else None,
            seen_before=True,
        )

    def _must_wait(self, hole: Hole, now: float, running_before: Horizon | None) -> bool:
        if now - hole.seen_at >= self._grace:
            return False
        fillers_ended = (
            running_before is not None
            and hole.seen_before
            and hole.fillers is not None
            and not hole.fillers & running_before.running
        )
        return not fillers_ended

    @property
    def waiting(self) -> bool:
        """Whether ids are held back behind a hole."""
        return bool(self._holes)
