"""The signal entry's rate limit: a valid token spends its source's own budget
(SIGNAL_RATE_LIMIT), so one source's flood never refuses another's posts from the same shared
address (TradingView's); a token that opens nothing spends the anonymous per-address budget; a
refused post is 429 in the one error shape and is not stored. On Redis and in process memory."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from tests.helpers import AppFactory, ClientFactory, assert_error_shape, register_user
from tests.signals.conftest import make_source, post_signal, signals_of

BACKENDS = ["redis", "memory"]
SHARED_SENDER = "198.51.100.7"  # one address many users' alerts come from


async def app_on(make_app: AppFactory, backend: str, **overrides: Any) -> FastAPI:
    if backend == "memory":
        overrides["redis_url"] = None
    application: FastAPI = await make_app(**overrides)
    return application


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_source_over_its_budget_gets_429_while_another_from_the_same_address_passes(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(
        make_app, backend, signal_rate_limit="2/minute", rate_limit_api_anonymous="2/minute"
    )
    owner_http = make_client(application, ip="192.0.2.10")
    owner = await register_user(owner_http)
    first = await make_source(owner_http, owner, dedup_window_seconds=0)
    second = await make_source(owner_http, owner, dedup_window_seconds=0)
    sender = make_client(application, ip=SHARED_SENDER)

    answers = [await post_signal(sender, first["token"], {"action": "pause"}) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[0].headers["RateLimit-Limit"] == "2"
    refused = answers[2]
    assert_error_shape(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The other source, from the same address, has its own budget (the address's anonymous
    # one, 2 a minute here, would have been spent by the first source's posts).
    other = await post_signal(sender, second["token"], {"action": "pause"})
    assert other.status_code == 202, other.text
    # The refused post was not stored.
    stored = await signals_of(owner_http, owner, source_id=first["id"])
    assert len(stored) == 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_random_tokens_from_one_address_spend_the_anonymous_budget(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(make_app, backend, rate_limit_api_anonymous="3/minute")
    owner_http = make_client(application, ip="192.0.2.11")
    owner = await register_user(owner_http)
    source = await make_source(owner_http, owner)
    flooder = make_client(application, ip="203.0.113.9")

    answers = [
        await post_signal(flooder, f"ags_{uuid.uuid4().hex}", {"action": "pause"}) for _ in range(4)
    ]

    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert_error_shape(answers[3], 429, "rate_limited")
    # Another anonymous call from that address is refused too: one budget per address.
    assert (await flooder.get("/api/v1/auth/me")).status_code == 429
    # A real source posted from the flooded address still has its own budget.
    real = await post_signal(flooder, source["token"], {"action": "pause"})
    assert real.status_code == 202, real.text
