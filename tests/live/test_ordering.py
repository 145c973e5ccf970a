"""The id releaser: whatever order ids become visible in, they are released in id order, each
once, and a hole holds later ids back only until it fills or its grace runs out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autogrid.live.ordering import IdReleaser


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
