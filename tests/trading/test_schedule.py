"""Recurring-buy slots in the user's time zone, and the catch-up policy after an outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from autogrid.trading.schedule import CatchUp, RecurringBuy, decide_slot


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_hourly_slots_fall_on_the_hour() -> None:
    schedule = RecurringBuy.of(every="hourly", cron=None, timezone="UTC", catch_up="skip")
    slots = list(islice(schedule.slots_after(utc(2025, 5, 20, 10, 30)), 3))
    assert slots == [utc(2025, 5, 20, 11), utc(2025, 5, 20, 12), utc(2025, 5, 20, 13)]


def test_daily_slots_follow_local_midnight_across_daylight_saving() -> None:
    paris = RecurringBuy.of(every="daily", cron=None, timezone="Europe/Paris", catch_up="skip")
    # Paris moves from UTC+1 to UTC+2 on 2025-03-30: local midnight is 23:00 UTC, then 22:00.
    slots = list(islice(paris.slots_after(utc(2025, 3, 28, 12)), 3))
    assert slots == [utc(2025, 3, 28, 23), utc(2025, 3, 29, 23), utc(2025, 3, 30, 22)]


def test_weekly_is_monday_and_cron_uses_the_zone() -> None:
    weekly = RecurringBuy.of(every="weekly", cron=None, timezone="UTC", catch_up="skip")
    assert weekly.next_slot(utc(2025, 5, 20)) == utc(2025, 5, 26)  # 2025-05-26 is a Monday
    new_york = RecurringBuy.of(
        every=None, cron="0 9 * * MON-FRI", timezone="America/New_York", catch_up="skip"
    )
    # Friday 09:00 EDT = 13:00 UTC; the next is Monday (the weekend has no slot).
    assert new_york.next_slot(utc(2025, 5, 23, 12)) == utc(2025, 5, 23, 13)
    assert new_york.next_slot(utc(2025, 5, 23, 13)) == utc(2025, 5, 26, 13)


HOURLY_SKIP = RecurringBuy("0 * * * *", "UTC", CatchUp.SKIP)
HOURLY_ONCE = RecurringBuy("0 * * * *", "UTC", CatchUp.ONCE)


@pytest.mark.parametrize("schedule", [HOURLY_SKIP, HOURLY_ONCE])
def test_a_slot_found_on_time_is_bought_once(schedule: RecurringBuy) -> None:
    decision = decide_slot(
        schedule, settled_through=utc(2025, 5, 20, 9, 59), now=utc(2025, 5, 20, 10, 0, 40)
    )
    assert (decision.buy, decision.settled_through) == (utc(2025, 5, 20, 10), utc(2025, 5, 20, 10))
    again = decide_slot(
        schedule,
        settled_through=decision.settled_through,  # type: ignore[arg-type]
        now=utc(2025, 5, 20, 10, 5),
    )
    assert again.buy is None and again.settled_through is None


def test_nothing_is_due_between_slots() -> None:
    decision = decide_slot(
        HOURLY_SKIP, settled_through=utc(2025, 5, 20, 10), now=utc(2025, 5, 20, 10, 59)
    )
    assert decision.buy is None and decision.settled_through is None


def test_after_an_outage_skip_drops_every_missed_slot() -> None:
    down_since = utc(2025, 5, 20, 9, 30)
    decision = decide_slot(HOURLY_SKIP, settled_through=down_since, now=utc(2025, 5, 20, 14, 40))
    assert decision.buy is None
    assert decision.settled_through == utc(2025, 5, 20, 14) and decision.missed == 5


def test_after_an_outage_once_buys_a_single_time_never_a_burst() -> None:
    decision = decide_slot(
        HOURLY_ONCE, settled_through=utc(2025, 5, 17), now=utc(2025, 5, 20, 14, 40)
    )
    assert decision.buy == utc(2025, 5, 20, 14)
    assert decision.missed == 3 * 24 + 14 - 1
    follow_up = decide_slot(HOURLY_ONCE, settled_through=decision.buy, now=utc(2025, 5, 20, 14, 41))
    assert follow_up.buy is None


def test_grace_is_a_quarter_of_the_gap_at_most_fifteen_minutes() -> None:
    settled = utc(2025, 5, 20, 9, 59)
    on_time = decide_slot(HOURLY_SKIP, settled_through=settled, now=utc(2025, 5, 20, 10, 15))
    late = decide_slot(
        HOURLY_SKIP, settled_through=settled, now=utc(2025, 5, 20, 10, 15) + timedelta(seconds=1)
    )
    assert on_time.buy == utc(2025, 5, 20, 10)
    assert late.buy is None and late.missed == 1
