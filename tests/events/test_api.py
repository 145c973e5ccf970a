"""GET /api/v1/events and GET /api/v1/bots/{id}/events: a user reads only their own journal, by
cursor, every event once and in id order, filtered by type and bot; bad filters are 422s."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot
from tests.bots.factories import BOTS, create_bot, set_status
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for

EVENTS = "/api/v1/events"
T = EventType


async def _journal(db: Database, bot_id: str, types: list[EventType]) -> None:
    """Events written the way every writer does (``record_event`` in a transaction)."""
    async with db.session_scope() as session:
        bot = await session.get(Bot, uuid.UUID(bot_id))
        assert bot is not None
        for number, type in enumerate(types):
            record_event(
                session,
                user_id=bot.user_id,
                bot_id=bot.id,
                type=type,
                message=f"event {number}",
                at=utcnow(),
                data={"n": number},
            )


async def _all_pages(client: httpx.AsyncClient, user: ApiUser, query: str = "") -> list[Any]:
    seen: list[Any] = []
    after = 0
    while True:
        page = await client.get(f"{EVENTS}?after_id={after}&limit=3{query}", headers=user.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body["items"]
        assert body["next_after_id"] == (body["items"][-1]["id"] if body["items"] else after)
        after = body["next_after_id"]
        if not body["has_more"]:
            return seen


async def test_paging_by_cursor_yields_every_event_once_in_id_order(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    first = (await create_bot(client, user))["id"]
    second = (await create_bot(client, user))["id"]
    theirs = (await create_bot(client, other_user))["id"]
    await _journal(db, first, [T.ORDER_PLACED, T.ORDER_ACKNOWLEDGED, T.FILL])
    await _journal(db, theirs, [T.ORDER_PLACED, T.FILL])
    await _journal(db, second, [T.DEAL_OPENED, T.FILL, T.ORDER_FILLED, T.DEAL_CLOSED])

    seen = await _all_pages(client, user)

    ids = [event["id"] for event in seen]
    assert ids == sorted(set(ids))  # once each, ascending
    assert len(seen) == 2 + 3 + 4  # two "created" and the seven above; none of theirs
    assert {event["bot_id"] for event in seen} == {first, second}
    assert [e["type"] for e in seen if e["bot_id"] == second] == [
        "created", "deal_opened", "fill", "order_filled", "deal_closed"
    ]  # fmt: skip
    # Nothing newer yet: the cursor stays where it is.
    last = ids[-1]
    empty = (await client.get(f"{EVENTS}?after_id={last}", headers=user.headers)).json()
    assert empty == {"items": [], "next_after_id": last, "has_more": False}


async def test_filters_by_type_and_bot(
    client: httpx.AsyncClient, db: Database, user: ApiUser
) -> None:
    first = (await create_bot(client, user))["id"]
    second = (await create_bot(client, user))["id"]
    await _journal(db, first, [T.FILL, T.ORDER_FILLED, T.FILL])
    await _journal(db, second, [T.FILL, T.DEAL_CLOSED])

    fills = await _all_pages(client, user, "&type=fill")
    assert [e["bot_id"] for e in fills] == [first, first, second]
    two = await _all_pages(client, user, "&type=fill&type=deal_closed")
    assert [e["type"] for e in two] == ["fill", "fill", "fill", "deal_closed"]
    only_second = await _all_pages(client, user, f"&bot_id={second}")
    assert [e["type"] for e in only_second] == ["created", "fill", "deal_closed"]
    assert all(e["bot_id"] == second for e in only_second)


async def test_another_users_bot_is_not_found_and_their_events_never_show(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    theirs = (await create_bot(client, other_user))["id"]
    await _journal(db, theirs, [T.FILL])
    await assert_not_found_for(client, user, "GET", f"{EVENTS}?bot_id={theirs}")
    await assert_not_found_for(client, user, "GET", f"{BOTS}/{theirs}/events")
    mine = await client.get(EVENTS, headers=user.headers)
    assert mine.json()["items"] == []
    assert len((await client.get(EVENTS, headers=other_user.headers)).json()["items"]) == 2


async def test_bad_filters_are_refused_in_the_error_shape(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    bot = (await create_bot(client, user))["id"]
    for query in [
        "type=nonsense",
        "after_id=-1",
        "after_id=x",
        f"after_id={2**63}",
        "bot_id=not-a-uuid",
        "limit=0",
        "limit=201",
    ]:
        assert_error_shape(await client.get(f"{EVENTS}?{query}", headers=user.headers), 422)
    for query in ["kind=nonsense", "after_id=-1"]:
        response = await client.get(f"{BOTS}/{bot}/events?{query}", headers=user.headers)
        assert_error_shape(response, 422)
    assert_error_shape(await client.get(EVENTS), 401)


async def test_a_bots_events_newest_first_with_after_id(
    client: httpx.AsyncClient, db: Database, user: ApiUser
) -> None:
    bot = (await create_bot(client, user))["id"]
    await _journal(db, bot, [T.ORDER_PLACED, T.FILL])
    path = f"{BOTS}/{bot}/events"
    everything = (await client.get(path, headers=user.headers)).json()
    assert [e["type"] for e in everything["items"]] == ["fill", "order_placed", "created"]
    assert [e["kind"] for e in everything["items"]] == ["fill", "order_placed", "created"]
    created_id = everything["items"][-1]["id"]
    newer = (await client.get(f"{path}?after_id={created_id}", headers=user.headers)).json()
    assert [e["type"] for e in newer["items"]] == ["fill", "order_placed"]
    assert newer["total"] == 2


async def test_the_event_types_are_an_enum_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    enum = schema["components"]["schemas"]["EventType"]["enum"]
    assert enum == [t.value for t in EventType]
    parameters = schema["paths"][EVENTS]["get"]["parameters"]
    assert {p["name"] for p in parameters} >= {"after_id", "type", "bot_id", "limit"}


async def test_the_kill_switch_is_an_account_event_for_every_bot_owner(
    client: httpx.AsyncClient,
    db: Database,
    user: ApiUser,
    other_user: ApiUser,
    admin_user: ApiUser,
) -> None:
    running = (await create_bot(client, user))["id"]
    await create_bot(client, user)
    await create_bot(client, other_user)
    await set_status(db, running, "running")
    engaged = await client.post(
        "/api/v1/admin/kill-switch", json={"reason": "drill"}, headers=admin_user.headers
    )
    assert engaged.status_code == 200, engaged.text
    released = await client.post("/api/v1/admin/kill-switch/release", headers=admin_user.headers)
    assert released.status_code == 200, released.text

    mine = (await client.get(f"{EVENTS}?limit=200", headers=user.headers)).json()["items"]
    account = [(e["type"], e["bot_id"]) for e in mine if e["bot_id"] is None]
    assert account == [("kill_switch_engaged", None), ("kill_switch_released", None)]
    [tripped] = [e for e in mine if e["type"] == "breaker_tripped"]
    assert (tripped["bot_id"], tripped["message"]) == (running, "kill switch: drill")
    theirs = await client.get(f"{EVENTS}?type=kill_switch_engaged", headers=other_user.headers)
    assert [e["data"] for e in theirs.json()["items"]] == [{"reason": "drill"}]
    # The admin owns no bot: no event for them.
    assert (await client.get(EVENTS, headers=admin_user.headers)).json()["items"] == []
