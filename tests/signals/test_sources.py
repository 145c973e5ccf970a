"""Signal sources through the API: the token is shown once and stored only hashed, rotation
retires the old token at once, targets must be the user's own bots, and every source is
private to its owner."""

from __future__ import annotations

import hashlib
import uuid

import httpx
from sqlalchemy import text

from autogrid.core.db import Database
from tests.bots.factories import create_bot
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for
from tests.signals.conftest import SOURCES, make_source, post_signal

PAUSE = {"action": "pause"}


async def test_the_token_is_shown_once_and_stored_only_as_its_hash(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    source = await make_source(client, user)
    token = source["token"]
    assert len(token) >= 4 + 43  # "ags_" and 32 random bytes (256 bits), URL-safe
    assert source["url_path"] == f"/api/v1/signals/{token}"
    assert token.startswith(source["token_prefix"])

    read = (await client.get(f"{SOURCES}/{source['id']}", headers=user.headers)).json()
    listed = (await client.get(SOURCES, headers=user.headers)).json()
    assert "token" not in read and "token" not in listed["items"][0]
    assert listed["total"] == 1

    async with db.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM signal_sources"))).mappings().all()
    assert len(rows) == 1
    assert token not in str(dict(rows[0]))
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()


async def test_rotation_retires_the_old_token_at_once(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    old = source["token"]
    assert (await post_signal(client, old, PAUSE)).status_code == 202

    rotated = await client.post(f"{SOURCES}/{source['id']}/rotate", headers=user.headers)

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["token"]
    assert new != old and rotated.json()["rotated_at"] is not None
    assert rotated.json()["bot_ids"] == source["bot_ids"]
    assert_error_shape(await post_signal(client, old, PAUSE), 404, "not_found")
    assert (await post_signal(client, new, {"action": "resume"})).status_code == 202


async def test_a_disabled_source_answers_like_an_unknown_token(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    changed = await client.patch(
        f"{SOURCES}/{source['id']}", json={"enabled": False}, headers=user.headers
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False

    disabled = await post_signal(client, source["token"], PAUSE)
    unknown = await post_signal(client, "ags_" + "x" * 43, PAUSE)

    for answer in (disabled, unknown):
        assert_error_shape(answer, 404, "not_found")
    assert disabled.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert disabled.headers.keys() == unknown.headers.keys()


async def test_targets_and_addresses_are_validated_and_editable(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    source = await make_source(client, user, allowed_ips=["10.0.0.1", "192.168.1.0/24"])
    assert source["allowed_ips"] == ["10.0.0.1/32", "192.168.1.0/24"]
    theirs = await create_bot(client, other_user)
    mine = await create_bot(client, user)

    not_mine = await client.post(
        SOURCES, json={"name": "x", "bot_ids": [theirs["id"]]}, headers=user.headers
    )
    assert_error_shape(not_mine, 404, "not_found")
    moved = await client.patch(
        f"{SOURCES}/{source['id']}", json={"bot_ids": [theirs["id"]]}, headers=user.headers
    )
    assert_error_shape(moved, 404, "not_found")
    bad_ip = await client.patch(
        f"{SOURCES}/{source['id']}", json={"allowed_ips": ["not-an-ip"]}, headers=user.headers
    )
    assert_error_shape(bad_ip, 422)
    unknown_field = await client.patch(
        f"{SOURCES}/{source['id']}", json={"token_hash": "0" * 64}, headers=user.headers
    )
    assert_error_shape(unknown_field, 422)
    emptied = await client.patch(
        f"{SOURCES}/{source['id']}", json={"bot_ids": []}, headers=user.headers
    )
    assert_error_shape(emptied, 422)  # no bots and no smart-trade template: it would act on nothing
    kept = await client.get(f"{SOURCES}/{source['id']}", headers=user.headers)
    assert kept.json()["bot_ids"] == source["bot_ids"]  # the refused change left nothing behind

    changed = await client.patch(
        f"{SOURCES}/{source['id']}",
        json={"bot_ids": [mine["id"], source["bot_ids"][0]], "allowed_ips": []},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.text
    assert sorted(changed.json()["bot_ids"]) == sorted([mine["id"], source["bot_ids"][0]])
    assert changed.json()["allowed_ips"] == []


async def test_sources_are_private(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    source = await make_source(client, user)
    path = f"{SOURCES}/{source['id']}"
    for method, url, body in [
        ("GET", path, None),
        ("PATCH", path, {"name": "mine now"}),
        ("POST", f"{path}/rotate", None),
        ("DELETE", path, None),
        ("GET", f"{SOURCES}/{uuid.uuid4()}", None),
        ("GET", f"/api/v1/signals?source_id={source['id']}", None),
    ]:
        await assert_not_found_for(client, other_user, method, url, json=body)
    theirs = (await client.get(SOURCES, headers=other_user.headers)).json()
    assert theirs["items"] == [] and theirs["total"] == 0
    # Untouched by the other user's attempts: the token still works, the name is the same.
    assert (await post_signal(client, source["token"], PAUSE)).status_code == 202
    read = (await client.get(path, headers=user.headers)).json()
    assert read["name"] == source["name"] and read["rotated_at"] is None


async def test_deleting_a_source_retires_its_token_and_its_signals(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    source = await make_source(client, user)
    assert (await post_signal(client, source["token"], PAUSE)).status_code == 202

    deleted = await client.delete(f"{SOURCES}/{source['id']}", headers=user.headers)

    assert deleted.status_code == 204
    assert_error_shape(await post_signal(client, source["token"], PAUSE), 404, "not_found")
    listed = (await client.get("/api/v1/signals", headers=user.headers)).json()
    assert listed["items"] == []


async def test_no_source_routes_without_a_login(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", SOURCES), ("POST", SOURCES), ("GET", "/api/v1/signals")]:
        response = await client.request(method, path, json={})
        assert_error_shape(response, 401)


async def test_a_deleted_bot_leaves_its_sources(client: httpx.AsyncClient, user: ApiUser) -> None:
    kept = await create_bot(client, user)
    gone = await create_bot(client, user)
    source = await make_source(client, user, [kept["id"], gone["id"]])

    deleted = await client.delete(f"/api/v1/bots/{gone['id']}", headers=user.headers)

    assert deleted.status_code == 204, deleted.text
    read = (await client.get(f"{SOURCES}/{source['id']}", headers=user.headers)).json()
    assert read["bot_ids"] == [kept["id"]]
