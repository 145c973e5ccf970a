"""/api/v1/credentials end to end: real ccxt against the Binance simulator, real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autogrid.core.db import Database
from autogrid.credentials import dependencies
from autogrid.models import Bot, BotStatus, ExchangeCredential
from autogrid.observability.redaction import REDACTED, scrub
from tests.credentials.conftest import (
    create_credential,
    credential_url,
    new_sim_key,
    stalls_expected,
)
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for

pytestmark = pytest.mark.usefixtures("sim_app")

READ_FIELDS = {
    "id",
    "exchange",
    "label",
    "api_key_masked",
    "sandbox",
    "permissions",
    "last_validated_at",
    "created_at",
    "updated_at",
}


async def test_create_verifies_the_key_and_returns_it_masked(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    body = await create_credential(client, user, key, label="  Binance main  ")
    assert set(body) == READ_FIELDS
    assert body["exchange"] == "binance"
    assert body["label"] == "Binance main"
    assert body["api_key_masked"] == f"{key.api_key[:4]}...{key.api_key[-4:]}"
    assert body["sandbox"] is False
    assert body["permissions"]["can_trade"] is True
    assert body["permissions"]["can_withdraw"] is False
    assert body["permissions"]["flags"]["enableReading"] is True
    assert body["last_validated_at"] is not None
    # The key was used for real: a signed account read and the API-restrictions read.
    assert sim.request_log("GET", "/api/v3/account")
    assert sim.request_log("GET", "/sapi/v1/account/apiRestrictions")
    assert sim.unhandled_requests() == []
    fetched = await client.get(credential_url(body["id"]), headers=user.headers)
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_created_secrets_are_registered_with_the_log_scrubber(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    await create_credential(client, user, key)
    for value in key.strings:
        assert scrub(f"echo {value} back") == f"echo {REDACTED} back"


async def test_sandbox_key_has_no_reported_permissions(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    # Binance's testnet has no API-restrictions endpoint: the connector reports nothing.
    body = await create_credential(client, user, new_sim_key(sim), sandbox=True)
    assert body["sandbox"] is True
    assert body["permissions"] is None
    assert not sim.request_log("GET", "/sapi/v1/account/apiRestrictions")


async def test_passphrase_is_optional_and_blank_means_none(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, db: Database
) -> None:
    key = new_sim_key(sim)
    first = await create_credential(client, user, key, label="a", passphrase=None)
    second = await create_credential(client, user, key, label="b", passphrase="   ")
    async with db.session_scope() as session:
        rows = (await session.scalars(select(ExchangeCredential))).all()
    assert {str(row.id) for row in rows} == {first["id"], second["id"]}
    assert all(row.passphrase_ciphertext is None for row in rows)


@pytest.mark.parametrize(
    ("exchange", "sandbox", "code"),
    [
        ("no-such-exchange", False, "unknown_exchange"),
        ("bitstamp", False, "invalid"),  # market data only
        ("kraken", True, "invalid"),  # no sandbox
    ],
)
async def test_exchange_must_be_known_and_tradable(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    exchange: str,
    sandbox: bool,
    code: str,
) -> None:
    body = new_sim_key(sim).body(exchange=exchange, sandbox=sandbox)
    response = await client.post("/api/v1/credentials", json=body, headers=user.headers)
    assert_error_shape(response, 422, code)
    assert sim.request_log("GET", "/api/v3/account") == []


async def test_exchange_aliases_are_normalised(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    body = await create_credential(client, user, new_sim_key(sim), exchange=" Binance ")
    assert body["exchange"] == "binance"


@pytest.mark.parametrize(
    "changes",
    [
        {"owner_id": str(uuid.uuid4())},
        {"permissions": {"can_withdraw": False}},
        {"api_secret": None},
        {"api_key": ""},
        {"api_key": "has a space inside it"},
        {"api_secret": "x" * 513},
        {"label": ""},
        {"label": "x" * 101},
        {"exchange": "x" * 33},
    ],
)
async def test_invalid_bodies_are_refused_without_echoing_them(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, changes: dict[str, Any]
) -> None:
    key = new_sim_key(sim)
    response = await client.post(
        "/api/v1/credentials", json=key.body(**changes), headers=user.headers
    )
    assert_error_shape(response, 422, "validation_error")
    for value in key.strings:
        assert value not in response.text
    assert sim.request_log("GET", "/api/v3/account") == []


async def test_a_key_the_exchange_does_not_know_is_refused(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    body = key.body(api_key="AK" + "0" * 62)
    response = await client.post("/api/v1/credentials", json=body, headers=user.headers)
    assert_error_shape(response, 422, "exchange_key_refused")
    assert response.json()["error"]["message"] == "the exchange refused this key"
    await _assert_nothing_stored(client, user)


async def test_a_wrong_secret_is_refused(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    body = key.body(api_secret="SK" + "1" * 62)
    response = await client.post("/api/v1/credentials", json=body, headers=user.headers)
    assert_error_shape(response, 422, "exchange_key_refused")
    await _assert_nothing_stored(client, user)


async def test_a_key_that_can_withdraw_is_refused_with_the_reason(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim, enableWithdrawals=True)
    response = await client.post("/api/v1/credentials", json=key.body(), headers=user.headers)
    assert_error_shape(response, 422, "withdrawals_enabled")
    error = response.json()["error"]
    assert "withdraw" in error["message"]
    assert error["details"]["reason"] == "withdrawals_enabled"
    await _assert_nothing_stored(client, user)


async def test_missing_permission_flags_count_as_withdraw_enabled(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    # ipRestrict with our address allowed, withdrawals on: still refused (the flag decides).
    key = new_sim_key(sim, ipRestrict=True, enableWithdrawals=True)
    response = await client.post("/api/v1/credentials", json=key.body(), headers=user.headers)
    assert_error_shape(response, 422, "withdrawals_enabled")


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("http_error", {"status": 503}),
        ("rate_limit", {"retry_after": 1}),
        ("delay", {"seconds": 0.8}),
        ("accepted_response_lost", {}),
    ],
)
async def test_temporary_exchange_trouble_is_503(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    sim_app: FastAPI,
    fault: str,
    options: dict[str, Any],
) -> None:
    key = new_sim_key(sim)
    sim.inject_fault(fault, "GET /api/v3/account", times=None, **options)
    with stalls_expected(sim_app, sim):
        response = await client.post("/api/v1/credentials", json=key.body(), headers=user.headers)
    assert_error_shape(response, 503, "exchange_unavailable")
    assert response.json()["error"]["details"]["exchange"] == "binance"
    assert len(sim.request_log("GET", "/api/v3/account")) >= 2  # the read was retried
    if fault == "rate_limit":
        assert int(response.headers["Retry-After"]) >= 1
    await _assert_nothing_stored(client, user)


async def test_an_unexpected_exchange_answer_is_502(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    sim.inject_fault(
        "http_error", "GET /api/v3/account", status=400, body='{"code":-1131,"msg":"odd"}'
    )
    response = await client.post(
        "/api/v1/credentials", json=new_sim_key(sim).body(), headers=user.headers
    )
    assert_error_shape(response, 502, "exchange_error")
    await _assert_nothing_stored(client, user)


async def test_a_failing_permissions_read_stores_nothing(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    # Fail closed: a key whose permissions cannot be read is not accepted.
    sim.inject_fault("http_error", "GET /sapi/v1/account/apiRestrictions", times=None, status=502)
    response = await client.post(
        "/api/v1/credentials", json=new_sim_key(sim).body(), headers=user.headers
    )
    assert_error_shape(response, 503, "exchange_unavailable")
    await _assert_nothing_stored(client, user)


async def test_labels_are_unique_per_user(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, sim: BinanceSimulator
) -> None:
    await create_credential(client, user, new_sim_key(sim), label="main")
    duplicate = await client.post(
        "/api/v1/credentials", json=new_sim_key(sim).body("main"), headers=user.headers
    )
    assert_error_shape(duplicate, 409, "conflict")
    # Another user may use the same label.
    await create_credential(client, other_user, new_sim_key(sim), label="main")


async def test_list_is_paginated_and_private(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, sim: BinanceSimulator
) -> None:
    created = [
        await create_credential(client, user, new_sim_key(sim), label=f"key {i}") for i in range(3)
    ]
    await create_credential(client, other_user, new_sim_key(sim), label="theirs")
    first = await client.get("/api/v1/credentials?limit=2", headers=user.headers)
    assert first.status_code == 200
    page = first.json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    rest = (await client.get("/api/v1/credentials?limit=2&offset=2", headers=user.headers)).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [c["id"] for c in created]
    assert all(set(item) == READ_FIELDS for item in page["items"])
    too_big = await client.get("/api/v1/credentials?limit=1000", headers=user.headers)
    assert_error_shape(too_big, 422)


async def test_routes_need_a_user(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/credentials")
    assert_error_shape(response, 401, "unauthorized")


async def test_another_users_credential_is_not_found_on_every_route(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, sim: BinanceSimulator
) -> None:
    credential = await create_credential(client, user, new_sim_key(sim))
    for method, path, body in [
        ("GET", credential_url(credential["id"]), None),
        ("PATCH", credential_url(credential["id"]), {"label": "mine now"}),
        ("DELETE", credential_url(credential["id"]), None),
        ("POST", credential_url(credential["id"], "/validate"), None),
    ]:
        await assert_not_found_for(client, other_user, method, path, json=body)
        # ... exactly like an id that does not exist.
        await assert_not_found_for(
            client, user, method, path.replace(credential["id"], str(uuid.uuid4())), json=body
        )
    still = await client.get(credential_url(credential["id"]), headers=user.headers)
    assert still.json()["label"] == credential["label"]


async def test_rename(client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator) -> None:
    first = await create_credential(client, user, new_sim_key(sim), label="first")
    await create_credential(client, user, new_sim_key(sim), label="second")
    url = credential_url(first["id"])
    renamed = await client.patch(url, json={"label": " renamed "}, headers=user.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["label"] == "renamed"
    assert renamed.json()["updated_at"] >= first["updated_at"]
    same = await client.patch(url, json={"label": "renamed"}, headers=user.headers)
    assert same.status_code == 200
    taken = await client.patch(url, json={"label": "second"}, headers=user.headers)
    assert_error_shape(taken, 409, "conflict")
    for body in ({"api_key": "AK" + "2" * 62, "label": "x"}, {"sandbox": True, "label": "x"}, {}):
        refused = await client.patch(url, json=body, headers=user.headers)
        assert_error_shape(refused, 422, "validation_error")
    assert (await client.get(url, headers=user.headers)).json()["label"] == "renamed"


async def test_delete(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, db: Database
) -> None:
    credential = await create_credential(client, user, new_sim_key(sim))
    response = await client.delete(credential_url(credential["id"]), headers=user.headers)
    assert response.status_code == 204
    assert response.content == b""
    gone = await client.get(credential_url(credential["id"]), headers=user.headers)
    assert_error_shape(gone, 404, "not_found")
    async with db.session_scope() as session:
        assert await session.get(ExchangeCredential, uuid.UUID(credential["id"])) is None


@pytest.mark.parametrize(
    "status",
    [
        BotStatus.RUNNING,
        BotStatus.STARTING,
        BotStatus.PAUSED,
        BotStatus.STOPPING,
        BotStatus.HALTED,
        BotStatus.ERROR,
    ],
)
async def test_delete_is_refused_while_an_active_bot_uses_it(
    client: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    db: Database,
    status: BotStatus,
) -> None:
    credential = await create_credential(client, user, new_sim_key(sim))
    bot_id = await _add_bot(db, user, uuid.UUID(credential["id"]), status)
    response = await client.delete(credential_url(credential["id"]), headers=user.headers)
    assert_error_shape(response, 409, "credential_in_use")
    assert response.json()["error"]["details"]["bots"] == [
        {"id": str(bot_id), "name": "grid bot", "status": status.value}
    ]
    still = await client.get(credential_url(credential["id"]), headers=user.headers)
    assert still.status_code == 200


async def test_delete_detaches_inactive_bots(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, db: Database
) -> None:
    credential = await create_credential(client, user, new_sim_key(sim))
    credential_id = uuid.UUID(credential["id"])
    bot_ids = [
        await _add_bot(db, user, credential_id, status)
        for status in (BotStatus.STOPPED, BotStatus.STOPPED)
    ]
    response = await client.delete(credential_url(credential_id), headers=user.headers)
    assert response.status_code == 204, response.text
    async with db.session_scope() as session:
        bots = (await session.scalars(select(Bot).where(Bot.id.in_(bot_ids)))).all()
    assert len(bots) == 2
    assert all(bot.credential_id is None and bot.version == 2 for bot in bots)


async def test_validate_refreshes_permissions_and_timestamp(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    credential = await create_credential(client, user, key)
    sim.set_permissions(key.api_key, enableSpotAndMarginTrading=False, enableFutures=True)
    response = await client.post(
        credential_url(credential["id"], "/validate"), headers=user.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["permissions"]["can_trade"] is False
    assert body["permissions"]["flags"]["enableFutures"] is True
    assert _time(body["last_validated_at"]) > _time(credential["last_validated_at"])
    stored = (await client.get(credential_url(credential["id"]), headers=user.headers)).json()
    assert stored["permissions"] == body["permissions"]


async def test_validate_refuses_a_key_that_became_able_to_withdraw(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    credential = await create_credential(client, user, key)
    sim.set_permissions(key.api_key, enableWithdrawals=True)
    response = await client.post(
        credential_url(credential["id"], "/validate"), headers=user.headers
    )
    assert_error_shape(response, 422, "withdrawals_enabled")
    stored = (await client.get(credential_url(credential["id"]), headers=user.headers)).json()
    assert stored == credential  # nothing was updated


async def test_validate_reports_a_revoked_key(
    client: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    key = new_sim_key(sim)
    credential = await create_credential(client, user, key)
    del sim.exchange.accounts[key.api_key]
    response = await client.post(
        credential_url(credential["id"], "/validate"), headers=user.headers
    )
    assert_error_shape(response, 422, "exchange_key_refused")


async def test_key_verifications_are_rate_limited_per_user(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    sim: BinanceSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dependencies, "VERIFICATIONS_PER_HOUR", 2)
    credential = await create_credential(client, user, new_sim_key(sim))
    url = credential_url(credential["id"], "/validate")
    assert (await client.post(url, headers=user.headers)).status_code == 200
    limited = await client.post(url, headers=user.headers)
    assert_error_shape(limited, 429, "rate_limited")
    assert "Retry-After" in limited.headers
    calls = len(sim.request_log("GET", "/api/v3/account"))
    refused = await client.post(
        "/api/v1/credentials", json=new_sim_key(sim).body("other"), headers=user.headers
    )
    assert_error_shape(refused, 429, "rate_limited")
    assert len(sim.request_log("GET", "/api/v3/account")) == calls  # nothing reached the exchange
    await create_credential(client, other_user, new_sim_key(sim))  # others are not affected


async def test_openapi_documents_the_routes(openapi_schema: dict[str, Any]) -> None:
    paths = openapi_schema["paths"]
    assert set(paths["/api/v1/credentials"]) == {"get", "post"}
    assert set(paths["/api/v1/credentials/{credential_id}"]) == {"get", "patch", "delete"}
    create = paths["/api/v1/credentials"]["post"]
    assert create["summary"].startswith("Verify an exchange API key")
    assert {"409", "422", "502", "503"} <= set(create["responses"])


# ----------------------------------------------------------------------------- helpers


async def _assert_nothing_stored(client: httpx.AsyncClient, user: ApiUser) -> None:
    listed = await client.get("/api/v1/credentials", headers=user.headers)
    assert listed.json()["total"] == 0


async def _add_bot(
    db: Database, user: ApiUser, credential_id: uuid.UUID, status: BotStatus
) -> uuid.UUID:
    async with db.session_scope() as session:
        bot = Bot(
            user_id=user.id,
            name="grid bot",
            type="grid",
            exchange="binance",
            symbol="BTC/USDT",
            mode="live",
            credential_id=credential_id,
            config={},
            status=status.value,
            state={},
        )
        session.add(bot)
        await session.flush()
        return bot.id


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)
