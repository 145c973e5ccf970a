"""A parsed signal survives its stored JSON: what the entry stored is what a bot's step reads
back (``signal_json`` -> ``signal_from_json``), for any signal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from autogrid.signals.model import ParsedSignal
from autogrid.signals.values import signal_from_json, signal_json
from tests.trading.strategies.test_signal_bot_properties import signals

sent_times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@given(
    signals,
    st.one_of(st.none(), sent_times),
    st.one_of(st.none(), st.integers(0, 10**6)),
    st.one_of(st.none(), st.text(max_size=20)),
)
def test_a_signal_reads_back_as_stored(
    signal: ParsedSignal, sent_at: datetime | None, lag: int | None, alert_id: str | None
) -> None:
    whole = replace(signal, sent_at=sent_at, max_lag_seconds=lag, alert_id=alert_id)
    assert signal_from_json(signal_json(whole)) == whole
