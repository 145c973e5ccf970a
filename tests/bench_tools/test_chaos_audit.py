"""The chaos audit's duplicate check: two exchange orders for one intent are a duplicate only if
both were live at once, judged by the exchange's order of events, never by its (skewed) clock."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from chaoskit.audit import ExchangeOrder, Finding, OurOrder, Records, _duplicates

T = datetime(2026, 12, 6, tzinfo=UTC)


def ours(client_id: str, tag: str = "B2") -> OurOrder:
    return OurOrder(
        client_id, "bot-1", client_id, None, "filled", "buy", {"tag": tag}, T, T, T, None
    )


def theirs(
    order_id: int, client_id: str, created: int, ended: int | None, time_ms: int
) -> ExchangeOrder:
    status = "FILLED" if ended is not None else "NEW"
    return ExchangeOrder(
        order_id, client_id, "key", status, "buy", time_ms, time_ms, created, ended
    )


def duplicates(*orders: ExchangeOrder) -> Finding:
    records = Records("BTC", "USDT", list(orders), [], {}, {}, [], [], [], [], end_ms=0)
    finding = Finding()
    _duplicates(records, {o.client_order_id: ours(o.client_order_id) for o in orders}, finding)
    return finding


def test_a_tag_placed_again_after_its_order_ended_is_no_duplicate_even_on_a_skewed_clock() -> None:
    # B2 filled (events 1-2); later B2 again (event 5), while the exchange clock was 30 s behind.
    first = theirs(75, "ag-first", created=1, ended=2, time_ms=1_000_000)
    again = theirs(82, "ag-again", created=5, ended=None, time_ms=1_000_000 - 30_000)
    assert duplicates(first, again).count == 0


def test_two_orders_of_one_tag_live_at_once_are_a_duplicate() -> None:
    first = theirs(75, "ag-first", created=1, ended=6, time_ms=1_000_000)
    again = theirs(82, "ag-again", created=5, ended=None, time_ms=1_000_500)
    finding = duplicates(first, again)
    assert finding.count == 1 and "live at once" in finding.details[0]


def test_one_client_id_placed_twice_is_a_duplicate() -> None:
    finding = duplicates(theirs(1, "ag-x", 1, 2, 0), theirs(2, "ag-x", 3, 4, 0))
    assert finding.count == 1 and "placed 2 times" in finding.details[0]
