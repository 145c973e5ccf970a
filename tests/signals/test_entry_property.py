"""Whatever a sender posts within the size cap, the entry answers 202 with a stored outcome from
the closed list (or 403/415), never a server error."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autogrid.signals.outcomes import SignalOutcome
from tests.helpers import ApiUser
from tests.signals.conftest import make_source, post_signal

BODIES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.dictionaries(
        st.sampled_from(["action", "symbol", "price", "alert_id", "timestamp", "max_lag", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
        max_size=6,
    ).map(lambda fields: json.dumps(fields).encode()),
)


async def test_any_body_gets_a_stored_outcome_never_a_server_error(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user, dedup_window_seconds=0)
    # The client lives on the test's event loop: Hypothesis draws the bodies, the test posts them
    # (a failure names its body; there is no shrinking).
    pending: list[tuple[bytes, str]] = []

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=BODIES, media=st.sampled_from(["text/plain", "application/json"]))
    def draw(body: bytes, media: str) -> None:
        pending.append((body, media))

    draw()
    for body, media in pending:
        answer = await post_signal(client, source["token"], body, media)
        assert answer.status_code == 202, (body, answer.text)
        assert answer.json()["outcome"] in set(SignalOutcome), answer.text
