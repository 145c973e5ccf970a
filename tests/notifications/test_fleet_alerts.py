"""The fleet watchdog: judged from outside the workers, the beat process tells administrators
once when nothing consumes the queues and once when workers consume again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.models import Event, FleetAlertState
from autogrid.notifications.fleet_alerts import FleetObservation, FleetWatch, announce
from tests.helpers import ApiUser
from tests.worker.processes import AUTOGRID, CELERY, process_env, running, tail

Q = "agq"


def seen(waiting: int | None, workers: int | None) -> FleetObservation:
    return FleetObservation(None if waiting is None else {Q: waiting}, workers)


def verdicts(watch: FleetWatch, observations: Sequence[FleetObservation]) -> list[str | None]:
    return [watch.observe(observation) for observation in observations]


def test_nothing_waiting_is_never_a_stall() -> None:
    watch = FleetWatch(stall_checks=1)
    assert verdicts(watch, [seen(0, 0), seen(0, 0), seen(0, None)]) == [None, None, None]


def test_messages_waiting_with_no_worker_is_a_stall_after_the_checks_in_a_row() -> None:
    watch = FleetWatch(stall_checks=3)
    found = verdicts(
        watch, [seen(5, 0), seen(6, 0), seen(0, 0), seen(1, 0), seen(2, 0), seen(3, 0)]
    )
    assert found[:5] == [None, None, None, None, None]  # the empty queue in between resets
    assert found[5] is not None and "no worker answers" in found[5]


def test_a_broker_that_does_not_answer_is_a_stall() -> None:
    watch = FleetWatch(stall_checks=2)
    assert verdicts(watch, [seen(None, None), seen(None, None)])[-1] == (
        "the broker does not answer"
    )


def test_workers_that_answer_but_never_drain_a_growing_queue_are_a_stall() -> None:
    watch = FleetWatch(stall_checks=2)
    # Busy but keeping up: the depth goes up and down.
    assert (
        verdicts(watch, [seen(3, 2), seen(5, 2), seen(4, 2), seen(6, 2), seen(5, 2)]) == [None] * 5
    )
    found = verdicts(watch, [seen(7, 2), seen(9, 2)])
    assert found[0] is None and found[1] is not None and "keep growing" in found[1]
    # The embedded broker cannot ping workers: growth alone tells there too.
    unknown = FleetWatch(stall_checks=2)
    assert verdicts(unknown, [seen(1, None), seen(2, None), seen(3, None)])[-1] is not None


async def fleet_events(db: Database, user_id: uuid.UUID) -> list[str]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(Event.type)
            .where(Event.user_id == user_id, Event.type.in_(["fleet_stalled", "fleet_recovered"]))
            .order_by(Event.id)
        )
        return list(rows)


async def test_a_stall_is_announced_once_to_admins_and_so_is_its_end(
    db: Database, admin_user: ApiUser, user: ApiUser
) -> None:
    async with db.session_scope() as session:
        await session.execute(delete(FleetAlertState))
    stalled = seen(9, 0)
    for _ in range(2):  # a second beat, or the next check, finds it announced already
        async with db.session_scope() as session:
            await announce(session, "9 messages wait and no worker answers", stalled, utcnow())
    for _ in range(2):
        async with db.session_scope() as session:
            await announce(session, None, seen(0, 1), utcnow())
    assert await fleet_events(db, admin_user.id) == ["fleet_stalled", "fleet_recovered"]
    assert await fleet_events(db, user.id) == []


async def wait_for(db: Database, user_id: uuid.UUID, wanted: list[str], log: Path) -> None:
    deadline = time.monotonic() + 120
    while (found := await fleet_events(db, user_id)) != wanted:
        assert time.monotonic() < deadline, f"{found}\n{tail(log)}"
        await asyncio.sleep(0.3)


@pytest.mark.slow
async def test_the_beat_process_tells_admins_when_no_worker_consumes_and_when_one_does(
    db: Database,
    admin_user: ApiUser,
    user: ApiUser,
    settings: Settings,
    pg_url: str,
    tmp_path: Path,
) -> None:
    async with db.session_scope() as session:
        await session.execute(delete(FleetAlertState))
    env = process_env(
        database_url=pg_url,
        redis_url=str(settings.redis_url),
        redis_key_prefix=f"agtest:{uuid.uuid4().hex[:8]}:",  # queues of its own, empty
        var_dir=str(tmp_path / "var"),
        log_json="false",
        fleet_check_seconds="0.5",
        fleet_stall_checks="3",
    )
    log = tmp_path / "processes.log"
    worker = [*CELERY, "-A", "autogrid.worker.celery_app", "worker", "--pool=solo", "-l", "WARNING"]
    # The beat sends its periodic tasks; no worker takes them: the queue fills, nobody answers.
    with running([*AUTOGRID, "beat"], env=env, cwd=tmp_path, log=log):
        await wait_for(db, admin_user.id, ["fleet_stalled"], log)
        with running(
            [*worker, "-n", f"watch-{uuid.uuid4().hex[:6]}@%h"], env=env, cwd=tmp_path, log=log
        ):
            await wait_for(db, admin_user.id, ["fleet_stalled", "fleet_recovered"], log)
    assert await fleet_events(db, user.id) == []
    async with db.session_scope() as session:
        [stall] = await session.scalars(
            select(Event).where(Event.user_id == admin_user.id, Event.type == "fleet_stalled")
        )
    assert stall.bot_id is None and "no worker answers" in stall.message
