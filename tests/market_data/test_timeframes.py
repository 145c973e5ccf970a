from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autogrid.market_data.timeframes import (
    InvalidTimeframe,
    datetime_to_ms,
    format_ms,
    ms_to_datetime,
    parse_timeframe,
    timeframe_to_ms,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1s", 1_000),
        ("1m", 60_000),
        ("5m", 300_000),
        ("15m", 900_000),
        ("1h", 3_600_000),
        ("4h", 14_400_000),
        ("1d", 86_400_000),
        ("3d", 259_200_000),
        ("1w", 604_800_000),
    ],
)
def test_timeframes_parse_to_milliseconds(text: str, ms: int) -> None:
    assert timeframe_to_ms(text) == ms
    assert parse_timeframe(text).name == text


@pytest.mark.parametrize(("text", "canonical"), [("60m", "1h"), ("24h", "1d"), ("120s", "2m")])
def test_non_canonical_spellings_are_refused_naming_the_right_one(
    text: str, canonical: str
) -> None:
    # One series must have one key: "60m" and "1h" would otherwise be stored as two series.
    with pytest.raises(InvalidTimeframe, match=f"must be written '{canonical}'"):
        parse_timeframe(text)
    assert parse_timeframe("90s").ms == 90_000  # not a whole number of minutes: already canonical


@pytest.mark.parametrize("text", ["", "m", "0m", "1", "1x", "01m", "-1m", "1.5h", " 1m", "1H"])
def test_malformed_timeframes_are_refused(text: str) -> None:
    with pytest.raises(InvalidTimeframe, match="not valid"):
        parse_timeframe(text)


def test_monthly_candles_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidTimeframe, match="monthly"):
        parse_timeframe("1M")


def test_alignment_and_floor() -> None:
    one_hour = parse_timeframe("1h")
    start = datetime_to_ms(datetime(2025, 5, 20, 13, tzinfo=UTC))
    assert one_hour.is_aligned(start)
    assert not one_hour.is_aligned(start + 60_000)
    assert one_hour.floor(start + 59 * 60_000) == start
    assert one_hour.missing_between(start, start + 3 * 3_600_000) == 2


def test_weekly_candles_open_on_monday_like_exchanges() -> None:
    week = parse_timeframe("1w")
    monday = datetime_to_ms(datetime(2025, 5, 19, tzinfo=UTC))  # a Monday
    thursday = datetime_to_ms(datetime(2025, 5, 22, tzinfo=UTC))
    assert week.is_aligned(monday)
    assert not week.is_aligned(thursday)  # epoch-aligned weeks would start on Thursdays
    assert week.floor(thursday) == monday


def test_millisecond_conversions_are_exact() -> None:
    ts_ms = 1_747_699_200_123
    moment = ms_to_datetime(ts_ms)
    assert moment == datetime(2025, 5, 20, 0, 0, 0, 123_000, tzinfo=UTC)
    assert datetime_to_ms(moment) == ts_ms
    assert format_ms(1_747_699_200_000) == "2025-05-20T00:00Z"
    with pytest.raises(ValueError, match="naive"):
        datetime_to_ms(datetime(2025, 5, 20))
