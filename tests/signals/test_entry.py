"""The signal entry through the real API: every post that reaches a source is stored with its
outcome and journalled in the same transaction; duplicate, stale and unparsable signals and
forbidden addresses are recorded and refused; the dry run stores nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from autogrid.core.db import Database
from autogrid.models import Event, Signal
from autogrid.signals import entry_limit, intake
from tests.helpers import ApiUser, AppFactory, ClientFactory, assert_error_shape
from tests.signals.conftest import (
    SIGNALS,
    SOURCES,
    events_of,
    make_source,
    post_signal,
    signals_of,
)


async def test_an_accepted_signal_is_stored_with_its_event_and_answered_202(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)

    answer = await post_signal(
        client, source["token"], {"action": "pause", "symbol": "BTC/USDT", "alert_id": "a-1"}
    )

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["outcome"] == "accepted" and isinstance(body["id"], int)
    stored = (await client.get(f"{SIGNALS}/{body['id']}", headers=user.headers)).json()
    assert stored["source_id"] == source["id"] and stored["alert_id"] == "a-1"
    assert stored["parsed"]["action"] == "pause" and stored["parsed"]["symbol"] == "BTC/USDT"
    assert json.loads(stored["body"])["alert_id"] == "a-1"
    received = await events_of(client, user, "signal_received")
    assert [e["data"]["signal_id"] for e in received] == [body["id"]]
    assert received[0]["data"]["source_id"] == source["id"]


async def test_text_plain_is_accepted_and_other_media_types_are_refused(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    plain = await post_signal(client, source["token"], '{"action":"pause"}', "text/plain")
    assert plain.status_code == 202 and plain.json()["outcome"] == "accepted"

    form = await post_signal(
        client, source["token"], "action=pause", "application/x-www-form-urlencoded"
    )
    assert_error_shape(form, 415, "unsupported_media_type")


async def test_a_duplicate_by_alert_id_or_by_body_is_recorded_and_ignored(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user, dedup_window_seconds=300)
    token = source["token"]
    first = await post_signal(client, token, {"action": "pause", "alert_id": "tv-7"})
    # Another body, same alert id: a repeat of the same alert.
    again = await post_signal(client, token, {"action": "pause", "alert_id": "tv-7", "price": 1})
    body = {"action": "resume", "symbol": "BTC/USDT"}
    once = await post_signal(client, token, body)
    twice = await post_signal(client, token, body)

    outcomes = [r.json()["outcome"] for r in (first, again, once, twice)]
    assert outcomes == ["accepted", "duplicate", "accepted", "duplicate"]
    assert "tv-7" in again.json()["reason"] and "300 s" in twice.json()["reason"]
    refused = await events_of(client, user, "signal_refused")
    assert [e["data"]["outcome"] for e in refused] == ["duplicate", "duplicate"]
    stored = await signals_of(client, user, outcome="duplicate")
    assert [s["id"] for s in stored] == [again.json()["id"], twice.json()["id"]]


async def test_the_same_body_outside_the_window_is_a_new_signal(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    source = await make_source(client, user, dedup_window_seconds=60)
    first = await post_signal(client, source["token"], {"action": "pause"})
    async with db.session_scope() as session:
        row = await session.get(Signal, first.json()["id"])
        assert row is not None
        row.received_at = row.received_at - timedelta(seconds=61)

    later = await post_signal(client, source["token"], {"action": "pause"})

    assert later.json()["outcome"] == "accepted"


async def test_concurrent_identical_posts_on_two_api_processes_accept_exactly_one(
    client: httpx.AsyncClient, user: ApiUser, make_app: AppFactory, make_client: ClientFactory
) -> None:
    source = await make_source(client, user, dedup_window_seconds=60)
    apps = [await make_app(), await make_app()]
    clients = [make_client(app) for app in apps]
    rounds = 8
    for n in range(rounds):
        # Odd rounds repeat an alert id, even rounds a body (no alert id).
        body = (
            {"action": "pause", "alert_id": f"race-{n}"}
            if n % 2
            else {"action": "pause", "symbol": "BTC/USDT", "price": str(60_000 + n)}
        )
        answers = await asyncio.gather(
            *(post_signal(c, source["token"], body) for c in clients for _ in range(2))
        )
        outcomes = sorted(a.json()["outcome"] for a in answers)
        assert outcomes == ["accepted", "duplicate", "duplicate", "duplicate"], (n, outcomes)
    accepted = await signals_of(client, user, outcome="accepted")
    assert len(accepted) == rounds


async def test_a_stale_signal_is_refused(client: httpx.AsyncClient, user: ApiUser) -> None:
    source = await make_source(client, user, max_lag_seconds=30)
    sent = datetime.now(UTC) - timedelta(minutes=5)
    own_lag = {"action": "pause", "timestamp": sent.isoformat(), "max_lag": 60}
    source_lag = {"action": "resume", "timestamp": sent.isoformat()}
    fresh = {"action": "pause", "timestamp": datetime.now(UTC).isoformat(), "max_lag": 600}

    answers = [await post_signal(client, source["token"], b) for b in (own_lag, source_lag, fresh)]

    assert [a.json()["outcome"] for a in answers] == ["stale", "stale", "accepted"]
    assert "max_lag of 60 s" in answers[0].json()["reason"]
    assert "max_lag of 30 s" in answers[1].json()["reason"]


async def test_an_unparsable_signal_is_stored_with_the_position_of_the_error(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    broken = '{"action": "pause",, }'

    answer = await post_signal(client, source["token"], broken)

    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "unparsable"
    position = answer.json()["error_position"]
    assert isinstance(position, int) and 0 <= position <= len(broken)
    stored = (await client.get(f"{SIGNALS}/{answer.json()['id']}", headers=user.headers)).json()
    assert stored["body"] == broken and stored["error_position"] == position
    refused = await events_of(client, user, "signal_refused")
    assert refused[0]["data"]["outcome"] == "unparsable"
    assert refused[0]["data"]["position"] == position


async def test_a_body_with_nul_or_invalid_utf8_is_stored_not_a_server_error(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    for raw in (b'{"action": "pa\x00use"}', b"\xff\xfe\x00\x01\x80"):
        answer = await post_signal(client, source["token"], raw, "text/plain")
        assert answer.status_code == 202, answer.text
        assert answer.json()["outcome"] == "unparsable"


async def test_a_buy_is_accepted_for_the_workers_whatever_its_targets(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    # Each target bot then does it or says why not (tests/signals/test_signal_bot.py).
    source = await make_source(client, user)
    answer = await post_signal(client, source["token"], {"action": "buy", "symbol": "BTC/USDT"})
    assert answer.json()["outcome"] == "accepted"


async def test_a_body_over_the_cap_is_refused_unread(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    huge = json.dumps({"action": "pause", "pad": "x" * 9000})
    assert_error_shape(await post_signal(client, source["token"], huge), 413)
    assert await signals_of(client, user) == []


async def test_an_address_not_allowed_is_refused_403_but_recorded(
    client: httpx.AsyncClient,
    user: ApiUser,
    app: FastAPI,
    make_client: ClientFactory,
) -> None:
    source = await make_source(client, user, allowed_ips=["203.0.113.0/24"])
    outsider = make_client(app, ip="198.51.100.7")
    insider = make_client(app, ip="203.0.113.9")

    # A forwarded-for header is not the peer address: the app trusts only what its server
    # (uvicorn --proxy-headers with its own allow-list) made of it.
    refused = await outsider.post(
        f"{SIGNALS}/{source['token']}",
        content='{"action": "pause"}',
        headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"},
    )
    allowed = await post_signal(insider, source["token"], {"action": "pause"})

    assert_error_shape(refused, 403, "forbidden_ip")
    assert allowed.status_code == 202 and allowed.json()["outcome"] == "accepted"
    stored = await signals_of(client, user, outcome="forbidden_ip")
    assert len(stored) == 1 and stored[0]["client_ip"] == "198.51.100.7"
    refused_events = await events_of(client, user, "signal_refused")
    assert [e["data"]["outcome"] for e in refused_events] == ["forbidden_ip"]


async def test_a_rolled_back_intake_leaves_no_signal_and_no_event(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    source = await make_source(client, user)

    with pytest.raises(RuntimeError):
        async with db.session_scope() as session:
            presented = await entry_limit.identify(session, source["token"])
            received = await intake.receive(
                session, presented=presented, body=b'{"action":"pause"}', client_ip="1.2.3.4"
            )
            assert received.signal.id is not None and received.execute
            raise RuntimeError("the request failed after the intake")

    async with db.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(Signal)) == 0
        kinds = (await session.scalars(select(Event.type))).all()
    assert not [kind for kind in kinds if kind.startswith("signal_")]


async def test_signals_are_private_and_listed_by_cursor_with_filters(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    mine = await make_source(client, user, dedup_window_seconds=0)
    other = await make_source(client, user)
    theirs = await make_source(client, other_user)
    ids = [
        (await post_signal(client, mine["token"], {"action": "pause"})).json()["id"]
        for _ in range(3)
    ]
    await post_signal(client, other["token"], "nonsense", "text/plain")
    their_id = (await post_signal(client, theirs["token"], {"action": "pause"})).json()["id"]

    first = (
        await client.get(
            SIGNALS, params={"limit": 2, "source_id": mine["id"]}, headers=user.headers
        )
    ).json()
    rest = (
        await client.get(
            SIGNALS,
            params={"limit": 2, "source_id": mine["id"], "after_id": first["next_after_id"]},
            headers=user.headers,
        )
    ).json()

    assert [s["id"] for s in first["items"]] == ids[:2] and first["has_more"] is True
    assert [s["id"] for s in rest["items"]] == ids[2:] and rest["has_more"] is False
    unparsable = await signals_of(client, user, outcome="unparsable")
    assert [s["source_id"] for s in unparsable] == [other["id"]]
    assert their_id not in [s["id"] for s in await signals_of(client, user)]
    assert_error_shape(await client.get(f"{SIGNALS}/{their_id}", headers=user.headers), 404)
    bad = await client.get(SIGNALS, params={"outcome": "lost"}, headers=user.headers)
    assert_error_shape(bad, 422)


async def test_the_dry_run_parses_and_stores_nothing(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    good = await client.post(
        f"{SIGNALS}/parse",
        json={"body": '{"action": "pause", "price": "65000.5"}', "default_symbol": "BTC/USDT"},
        headers=user.headers,
    )
    bad = await client.post(
        f"{SIGNALS}/parse", json={"body": '{"action": "fly"}'}, headers=user.headers
    )
    anonymous = await client.post(f"{SIGNALS}/parse", json={"body": "{}"})

    assert good.status_code == 200, good.text
    assert good.json()["ok"] is True
    assert good.json()["signal"]["action"] == "pause"
    assert good.json()["signal"]["symbol"] == "BTC/USDT"
    assert good.json()["signal"]["price"] == "65000.5"
    assert bad.json()["ok"] is False and isinstance(bad.json()["position"], int)
    assert_error_shape(anonymous, 401)
    assert await signals_of(client, user) == []
    assert source["id"]  # the source exists, yet nothing was stored for it
    assert await events_of(client, user, "signal_received", "signal_refused") == []


async def test_an_unknown_token_stores_nothing(client: httpx.AsyncClient, user: ApiUser) -> None:
    await make_source(client, user)
    for token in ("ags_" + uuid.uuid4().hex, "x", "%00"):
        answer = await post_signal(client, token, {"action": "pause"})
        assert answer.status_code in (404, 422), answer.text
    assert await signals_of(client, user) == []
    assert (await client.get(SOURCES, headers=user.headers)).json()["total"] == 1
