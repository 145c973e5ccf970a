"""The id releaser: whatever order ids become visible in, they are released in id order, each
once, and a hole holds later ids back only until it fills, no transaction that could fill it is
still running, or its grace runs out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autogrid.live.ordering import Horizon, IdReleaser


def test_a_hole_holds_later_ids_back_until_it_fills() -> None:
    releaser = IdReleaser(10, grace=5)
    assert releaser.release([11, 13, 14], now=0) == 1  # 12 is not visible yet
    assert releaser.settled == 11 and releaser.waiting
    assert releaser.release([12, 13, 14], now=1) == 3
    assert releaser.settled == 14 and not releaser.waiting


def test_a_hole_that_never_fills_is_given_up_after_its_grace() -> None:
    releaser = IdReleaser(0, grace=5)
    assert releaser.release([2, 3], now=0) == 0
    assert releaser.release([2, 3], now=4.9) == 0
    assert releaser.release([2, 3], now=5) == 2
    assert releaser.settled == 3


def test_a_shrinking_hole_keeps_its_age() -> None:
    releaser = IdReleaser(0, grace=5)
    assert releaser.release([4], now=0) == 0  # 1..3 missing since 0
    assert releaser.release([1, 4], now=3) == 1  # 2..3 still missing, seen since 0
    assert releaser.release([4], now=5) == 1


def running(*xids: int) -> Horizon:
    return Horizon(frozenset(xids))


def test_a_hole_is_given_up_once_every_transaction_running_when_it_was_seen_has_ended() -> None:
    releaser = IdReleaser(0, grace=3600)
    assert releaser.release([2, 3], now=0, running_after=running(90, 95)) == 0
    # 95 still ran before this read: it may hold id 1 and commit it.
    assert releaser.release([2, 3], now=0, running_before=running(95, 101)) == 0
    # Only a transaction that started later ran: it cannot have drawn id 1.
    assert releaser.release([2, 3], now=0, running_before=running(101)) == 2
    assert releaser.settled == 3 and not releaser.waiting


def test_a_filler_that_ends_during_the_read_is_waited_for() -> None:
    """Transaction 7 commits id 1 after the ids were read but before the horizon after them:
    only what ran before a read tells whether its commit could be among the ids."""
    releaser = IdReleaser(0, grace=3600)
    assert releaser.release([2], now=0, running_after=running(7)) == 0
    assert releaser.release([2], now=0, running_before=running(7), running_after=running()) == 0
    assert releaser.release([1, 2], now=0, running_before=running()) == 2


def test_the_read_that_finds_a_hole_never_gives_it_up() -> None:
    """A transaction gets its id at its first write, a moment after drawing the event id: the
    read that finds the hole may not see it running yet."""
    releaser = IdReleaser(0, grace=3600)
    assert releaser.release([2], now=0, running_before=running(), running_after=running()) == 0
    assert releaser.release([2], now=0, running_before=running()) == 1


def test_holes_behind_a_waiting_one_are_remembered_from_the_first_read() -> None:
    releaser = IdReleaser(0, grace=3600)
    assert releaser.release([2, 4], now=0, running_after=running(50)) == 0
    # The transaction holding id 1 commits; 3 was rolled back back then: both resolved now.
    assert releaser.release([1, 2, 4], now=0, running_before=running(60)) == 3


def test_without_horizons_a_hole_waits_for_its_grace() -> None:
    releaser = IdReleaser(0, grace=5)
    assert releaser.release([2], now=0) == 0
    assert releaser.release([2], now=1, running_before=running()) == 0  # fillers unknown
    assert releaser.release([2], now=5) == 1


def test_without_strict_order_nothing_waits() -> None:
    releaser = IdReleaser(0, grace=5, strict=False)
    assert releaser.release([3, 9], now=0) == 2 and releaser.settled == 9


@given(st.permutations(list(range(1, 31))), st.integers(min_value=1, max_value=30))
def test_any_commit_order_is_released_in_id_order_each_once(
    commit_order: list[int], reads: int
) -> None:
    """Ids commit one by one in any order; a reader looks after every few commits and gets
    every id once, ascending (no grace runs out: time stands still)."""
    releaser = IdReleaser(0, grace=5)
    visible: set[int] = set()
    released: list[int] = []
    for position, id_ in enumerate(commit_order, start=1):
        visible.add(id_)
        if position % reads == 0 or position == len(commit_order):
            ids = sorted(i for i in visible if i > releaser.settled)
            released += ids[: releaser.release(ids, now=0)]
    assert released == list(range(1, 31))


@given(
    st.permutations(list(range(1, 31))),
    st.sets(st.integers(min_value=1, max_value=30), max_size=8),
    st.integers(min_value=1, max_value=30),
)
def test_holes_resolved_by_horizons_lose_no_committed_id(
    ends: list[int], rolled_back: set[int], reads: int
) -> None:
    """Ids 1..30 drawn by 30 running transactions (transaction id 1000 + id) that end in any
    order, some by a rollback; each read sees which still run. Every committed id comes once,
    ascending, however the rollbacks' holes are given up (no grace runs out: time stands
    still)."""
    releaser = IdReleaser(0, grace=5)
    running_ids = set(range(1, 31))
    visible: set[int] = set()
    released: list[int] = []
    for position, id_ in enumerate(ends, start=1):
        running_ids.discard(id_)
        if id_ not in rolled_back:
            visible.add(id_)
        if position % reads == 0 or position == len(ends):
            now_running = running(*(1000 + i for i in running_ids))
            for _ in range(2):  # a second look, as the feed does while it holds back
                ids = sorted(i for i in visible if i > releaser.settled)
                count = releaser.release(
                    ids, now=0, running_before=now_running, running_after=now_running
                )
                released += ids[:count]
    assert released == sorted(set(range(1, 31)) - rolled_back)
