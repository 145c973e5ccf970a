"""The administrators' view of the platform at work: every user's bots, the fleet, problems."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.scheduling.dispatcher import CeleryBotDispatcher
from autogrid.worker.celery_app import celery_namespace, create_celery
from autogrid.worker.fleet import probe_fleet
from tests.helpers import ApiUser, assert_error_shape
from tests.support.factories import make_bot, set_bot
from tests.worker.broker_clients import embedded_app
from tests.worker.processes import CELERY, process_env, running

ADMIN = "/api/v1/admin"


async def get(client: httpx.AsyncClient, who: ApiUser, path: str, **params: Any) -> Any:
    response = await client.get(f"{ADMIN}{path}", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("path", ["/bots", "/fleet", "/errors"])
async def test_only_admins_see_the_platform(
    client: httpx.AsyncClient, user: ApiUser, path: str
) -> None:
    assert_error_shape(await client.get(f"{ADMIN}{path}", headers=user.headers), 403, "forbidden")
    assert_error_shape(await client.get(f"{ADMIN}{path}"), 401, "unauthorized")


async def test_every_users_bots_with_their_owner_and_what_is_wrong(
    client: httpx.AsyncClient, db: Database, admin_user: ApiUser, user: ApiUser, other_user: ApiUser
) -> None:
    running_bot = await make_bot(db, user.id, status="running")
    failed = await make_bot(db, user.id, status="error")
    await set_bot(db, failed, error="the exchange refused the API key")
    halted = await make_bot(db, other_user.id, status="halted")
    await set_bot(db, halted, breaker_reason="5 consecutive exchange errors")

    everything = await get(client, admin_user, "/bots")
    assert everything["total"] == 3
    owners = {item["id"]: item["owner_email"] for item in everything["items"]}
    assert owners == {
        str(running_bot): user.email,
        str(failed): user.email,
        str(halted): other_user.email,
    }
    in_error = await get(client, admin_user, "/bots", status="error")
    assert [(b["id"], b["error"]) for b in in_error["items"]] == [
        (str(failed), "the exchange refused the API key")
    ]
    errored = await get(client, admin_user, "/bots", errored="true")
    assert {b["id"] for b in errored["items"]} == {str(failed), str(halted)}
    healthy = await get(client, admin_user, "/bots", errored="false")
    assert [b["id"] for b in healthy["items"]] == [str(running_bot)]
    theirs = await get(client, admin_user, "/bots", user_id=str(other_user.id))
    assert [b["id"] for b in theirs["items"]] == [str(halted)]

    bad = await client.get(f"{ADMIN}/bots", headers=admin_user.headers, params={"status": "x"})
    assert_error_shape(bad, 422, "validation_error")


async def test_recent_problems_of_every_user_newest_first(
    client: httpx.AsyncClient, db: Database, admin_user: ApiUser, user: ApiUser, other_user: ApiUser
) -> None:
    mine = await make_bot(db, user.id, status="running")
    theirs = await make_bot(db, other_user.id, status="running")
    async with db.session_scope() as session:
        now = utcnow()
        record_event(
            session, user_id=user.id, bot_id=mine, type=EventType.PAUSED, message="paused", at=now
        )  # not a problem
        record_event(
            session,
            user_id=user.id,
            bot_id=mine,
            type=EventType.ERROR,
            message="strategy raised",
            at=now,
        )
        record_event(
            session,
            user_id=other_user.id,
            bot_id=theirs,
            type=EventType.BREAKER_TRIPPED,
            message="losses",
            at=now,
        )
        record_event(
            session,
            user_id=user.id,
            bot_id=mine,
            type=EventType.ORDER_NOT_PLACED,
            message="gave up",
            at=now,
        )

    page = await get(client, admin_user, "/errors", limit=2)
    assert [(p["type"], p["owner_email"]) for p in page["items"]] == [
        ("order_not_placed", user.email),
        ("breaker_tripped", other_user.email),
    ]
    assert page["items"][1]["bot_name"] == "test bot"
    older = await get(client, admin_user, "/errors", limit=2, before_id=page["next_before_id"])
    assert [p["type"] for p in older["items"]] == ["error"]
    assert older["next_before_id"] is None
    only = await get(client, admin_user, "/errors", type="breaker_tripped")
    assert [p["bot_id"] for p in only["items"]] == [str(theirs)]


async def test_the_fleet_shows_bots_lag_queues_and_the_workers_that_answer(
    client: httpx.AsyncClient,
    db: Database,
    admin_user: ApiUser,
    user: ApiUser,
    settings: Settings,
    pg_url: str,
    tmp_path: Path,
) -> None:
    late = await make_bot(db, user.id, status="running", tick_interval_seconds=5)
    await set_bot(db, late, last_tick_at=utcnow().replace(microsecond=0) - timedelta(seconds=120))
    await make_bot(db, user.id, status="error")

    before = await get(client, admin_user, "/fleet")
    assert before["workers"] == []  # nobody consumes yet: the broadcast got no answer
    assert before["bots"] == {"running": 1, "error": 1}
    assert before["tick_lag_seconds"] >= 115  # 120 s since its last tick, 5 s interval
    assert set(before["queues"]) == {
        celery_namespace(settings),
        f"{celery_namespace(settings)}.backtests",
    }

    env = process_env(
        database_url=pg_url,
        redis_url=str(settings.redis_url),
        redis_key_prefix=settings.redis_key_prefix,
        var_dir=str(tmp_path / "var"),
        log_json="false",
    )
    argv = [
        *CELERY,
        "-A",
        "autogrid.worker.celery_app",
        "worker",
        "--pool=solo",
        "-l",
        "WARNING",
        "-n",
        f"fleet-{uuid.uuid4().hex[:6]}@%h",
    ]
    with running(argv, env=env, cwd=tmp_path, log=tmp_path / "worker.log"):

        async def answered() -> list[dict[str, Any]]:
            return list((await get(client, admin_user, "/fleet"))["workers"])

        workers: list[dict[str, Any]] = []
        for _ in range(60):  # each ask waits up to 1 s; the worker needs a few to start
            workers = await answered()
            if workers:
                break
        assert len(workers) == 1, (tmp_path / "worker.log").read_text()[-2000:]
        assert workers[0]["name"].startswith("fleet-")
        assert workers[0]["concurrency"] == 1


def test_the_embedded_broker_reports_queues_and_says_why_not_workers(tmp_path: Path) -> None:
    app = embedded_app(tmp_path / "var")
    assert app.settings is not None
    view = probe_fleet(app, app.settings)
    assert view.workers is None
    assert view.note is not None and "embedded broker" in view.note
    assert view.queues is not None
    assert all(depth == 0 for depth in view.queues.values()) and len(view.queues) == 2


async def test_the_fleet_answers_what_it_can_read_when_the_broker_is_down(
    client: httpx.AsyncClient,
    app: Any,
    db: Database,
    admin_user: ApiUser,
    user: ApiUser,
    settings: Settings,
) -> None:
    await make_bot(db, user.id, status="running")
    # Loopback, nothing listens there: refused, as by a broker that is down (kombu raises its
    # OperationalError, which the probe did not catch: the view answered 500).
    down = settings.model_copy(update={"celery_broker_url": "redis://127.0.0.1:1/0"})
    app.state.bot_dispatcher = CeleryBotDispatcher(create_celery(down))

    view = await get(client, admin_user, "/fleet")
    assert view["bots"] == {"running": 1}  # from the database: still there
    assert view["queues"] is None and view["workers"] is None
    assert "broker did not answer" in view["workers_note"]
