"""The status machine: the table itself, the lifecycle routes, the runtime's reports, and the
dispatcher hook being called only after commit."""

from __future__ import annotations

import itertools
import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autogrid.bots import service
from autogrid.bots.dispatch import BotCommand, BotCommandKind
from autogrid.bots.lifecycle import TRANSITIONS, BotAction, IllegalTransition, next_status
from autogrid.core.db import Database
from autogrid.models import Bot, BotStatus, Event
from autogrid.trading.breaker import BreakerState, PnlSample
from tests.bots.factories import BOTS, add_credential, create_bot, grid_body, set_status
from tests.helpers import ApiUser, assert_error_shape

S = BotStatus

# The brief's table, written out independently of the code's.
ACTIVE = (S.STARTING, S.RUNNING, S.PAUSED, S.HALTED)
EXPECTED: dict[tuple[BotAction, BotStatus], BotStatus] = {
    (BotAction.START, S.STOPPED): S.STARTING,
    **{(BotAction.STOP, s): S.STOPPING for s in (*ACTIVE, S.ERROR, S.STOPPING)},
    (BotAction.PAUSE, S.RUNNING): S.PAUSED,
    (BotAction.RESUME, S.PAUSED): S.RUNNING,
    (BotAction.RESET_BREAKER, S.HALTED): S.RUNNING,
    (BotAction.RESET_BREAKER, S.STOPPED): S.STOPPED,
    (BotAction.CONFIRM_STARTED, S.STARTING): S.RUNNING,
    (BotAction.CONFIRM_STOPPED, S.STOPPING): S.STOPPED,
    **{(BotAction.TRIP_BREAKER, s): S.HALTED for s in (S.STARTING, S.RUNNING, S.PAUSED)},
    **{(BotAction.FAIL, s): S.ERROR for s in (*ACTIVE, S.STOPPING)},
}  # fmt: skip


@pytest.mark.parametrize(("action", "status"), list(itertools.product(BotAction, BotStatus)))
def test_every_action_from_every_status(action: BotAction, status: BotStatus) -> None:
    expected = EXPECTED.get((action, status))
    if expected is None:
        with pytest.raises(IllegalTransition) as raised:
            next_status(action, status)
        assert status.value in str(raised.value)
    else:
        assert next_status(action, status) is expected


def test_the_table_has_no_edge_the_expectations_lack() -> None:
    edges = {(a, s) for a, targets in TRANSITIONS.items() for s in targets}
    assert edges == set(EXPECTED)


class Recorder:
    """A BotDispatcher that also reads the bot in a fresh session when it is called."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[tuple[BotCommand, str | None]] = []

    async def dispatch(self, command: BotCommand) -> None:
        async with self.db.session_scope() as session:
            bot = await session.get(Bot, command.bot_id)
            self.calls.append((command, bot.status if bot else None))


@pytest.fixture
def recorder(app: FastAPI, db: Database) -> Recorder:
    app.state.bot_dispatcher = Recorder(db)
    dispatcher: Recorder = app.state.bot_dispatcher
    return dispatcher


async def act(
    client: httpx.AsyncClient, user: ApiUser, bot: dict[str, Any], action: str, body: Any = None
) -> httpx.Response:
    return await client.post(f"{BOTS}/{bot['id']}/{action}", json=body, headers=user.headers)


async def test_start_commits_then_dispatches(
    client: httpx.AsyncClient, user: ApiUser, recorder: Recorder
) -> None:
    bot = await create_bot(client, user)

    response = await act(client, user, bot, "start")

    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "starting"
    assert started["started_at"] is not None
    # The dispatcher ran after commit: a separate session already saw "starting".
    assert len(recorder.calls) == 1
    command, status_seen = recorder.calls[0]
    assert command.bot_id == uuid.UUID(bot["id"]) and command.kind is BotCommandKind.START
    assert command.version == 2
    assert status_seen == "starting"


async def test_an_illegal_transition_is_409_with_the_status_and_dispatches_nothing(
    client: httpx.AsyncClient, user: ApiUser, recorder: Recorder
) -> None:
    bot = await create_bot(client, user)
    for action, message in [
        ("stop", "cannot stop a bot that is stopped"),
        ("pause", "cannot pause a bot that is stopped"),
        ("resume", "cannot resume a bot that is stopped"),
        ("reset-breaker", "the circuit breaker is not tripped"),
    ]:
        response = await act(client, user, bot, action)
        assert_error_shape(response, 409, "bot_status_conflict")
        assert response.json()["error"]["details"] == {"status": "stopped"}
        assert message in response.json()["error"]["message"]
    await act(client, user, bot, "start")
    again = await act(client, user, bot, "start")
    assert_error_shape(again, 409)
    assert "cannot start a bot that is starting" in again.json()["error"]["message"]
    assert [command.kind for command, _ in recorder.calls] == [BotCommandKind.START]


async def test_a_failing_dispatcher_does_not_fail_the_request(
    app: FastAPI, client: httpx.AsyncClient, user: ApiUser, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def dispatch(self, command: BotCommand) -> None:
            raise ConnectionError("broker down")

    app.state.bot_dispatcher = Broken()
    bot = await create_bot(client, user)
    with caplog.at_level(logging.ERROR, logger="autogrid.bots.dispatch"):
        response = await act(client, user, bot, "start")
    assert response.status_code == 202
    assert "was not sent" in caplog.text
    fetched = await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert fetched.json()["status"] == "starting"  # the row stays the source of truth


async def test_the_full_user_journey(
    client: httpx.AsyncClient, user: ApiUser, db: Database, recorder: Recorder
) -> None:
    bot = await create_bot(client, user)
    await act(client, user, bot, "start")
    await set_status(db, bot["id"], "running")  # the runtime picked it up

    paused = await act(client, user, bot, "pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = await act(client, user, bot, "resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    stopping = await act(client, user, bot, "stop", {"cancel_orders": True, "sell_base": True})
    assert stopping.status_code == 202 and stopping.json()["status"] == "stopping"

    assert [(c.kind, seen) for c, seen in recorder.calls] == [
        (BotCommandKind.START, "starting"),
        (BotCommandKind.PAUSE, "paused"),
        (BotCommandKind.RESUME, "running"),
        (BotCommandKind.STOP, "stopping"),
    ]
    versions = [c.version for c, _ in recorder.calls]
    assert versions == sorted(versions) and len(set(versions)) == 4
    events = (await client.get(f"{BOTS}/{bot['id']}/events", headers=user.headers)).json()
    assert [e["type"] for e in events["items"]] == [
        "stop_requested", "resumed", "paused", "start_requested", "created"
    ]  # fmt: skip
    async with db.session_scope() as session:
        row = await session.get(Bot, uuid.UUID(bot["id"]))
        assert row is not None
        assert row.state["stop_request"]["cancel_orders"] is True
        assert row.state["stop_request"]["sell_base"] is True


async def test_stop_defaults_to_cancelling_orders_and_refuses_selling_without_cancelling(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "error", error="key revoked")

    bad = await act(client, user, bot, "stop", {"cancel_orders": False, "sell_base": True})
    assert_error_shape(bad, 422)
    unknown = await act(client, user, bot, "stop", {"cancel_orders": True, "now": True})
    assert_error_shape(unknown, 422)

    response = await act(client, user, bot, "stop")
    assert response.status_code == 202
    async with db.session_scope() as session:
        row = await session.get(Bot, uuid.UUID(bot["id"]))
        assert row is not None
        assert row.state["stop_request"]["cancel_orders"] is True
        assert row.state["stop_request"]["sell_base"] is False


async def test_reset_breaker_resumes_a_halted_bot_and_forgets_the_loss(
    client: httpx.AsyncClient, user: ApiUser, db: Database, recorder: Recorder
) -> None:
    bot = await create_bot(client, user)
    now = datetime.now(UTC)
    tripped = BreakerState(
        order_times=(now,),
        pnl_samples=(PnlSample(now - timedelta(minutes=5), Decimal(30)),),
        consecutive_errors=2,
        tripped_reason="lost 6%",
        tripped_at=now,
    )
    await set_status(
        db, bot["id"], "halted", breaker_reason="lost 6%", breaker_tripped_at=now,
        state={"breaker": tripped.to_dict(), "grid": {"kept": True}},
    )  # fmt: skip
    halted = (await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)).json()
    assert halted["breaker_state"]["tripped"] is True
    assert halted["breaker_state"]["reason"] == "lost 6%"

    response = await act(client, user, bot, "reset-breaker")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "running"
    assert body["breaker_state"] == {"tripped": False, "reason": None, "tripped_at": None}
    async with db.session_scope() as session:
        row = await session.get(Bot, uuid.UUID(bot["id"]))
        assert row is not None
        breaker = BreakerState.from_dict(row.state["breaker"])
        assert not breaker.tripped and breaker.pnl_samples == () and breaker.consecutive_errors == 0
        assert breaker.order_times == (now,)  # the rate limit still counts recent orders
        assert row.state["grid"] == {"kept": True}  # the runtime's state is untouched
        event = await session.scalar(select(Event).where(Event.type == "breaker_reset"))
        assert event is not None and event.data == {"reason": "lost 6%"}
    assert recorder.calls[-1][0].kind is BotCommandKind.RESET_BREAKER


async def test_a_stopped_bot_with_a_tripped_breaker_must_be_reset_before_starting(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await set_status(
        db, bot["id"], "stopped", breaker_reason="5 consecutive exchange errors",
        breaker_tripped_at=datetime.now(UTC),
    )  # fmt: skip

    refused = await act(client, user, bot, "start")
    assert_error_shape(refused, 409)
    assert "reset it before starting" in refused.json()["error"]["message"]

    reset = await act(client, user, bot, "reset-breaker")
    assert reset.status_code == 200 and reset.json()["status"] == "stopped"
    assert (await act(client, user, bot, "start")).status_code == 202


async def test_a_live_bot_whose_credential_was_deleted_cannot_start(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    credential = await add_credential(db, user)
    bot = await create_bot(
        client, user, grid_body(mode="live", credential_id=str(credential), paper=None)
    )
    await set_status(db, bot["id"], "stopped", credential_id=None)  # what deleting a key does
    response = await act(client, user, bot, "start")
    assert_error_shape(response, 409)
    assert "credential" in response.json()["error"]["message"]


async def test_the_runtime_reports_move_the_bot_along_the_table(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await act(client, user, bot, "start")
    await act(client, user, bot, "stop", {"cancel_orders": False})
    bot_id = uuid.UUID(bot["id"])

    async with db.session_scope() as session:
        row = await session.get(Bot, bot_id)
        assert row is not None
        await service.mark_stopped(session, row)
    async with db.session_scope() as session:
        row = await session.get(Bot, bot_id)
        assert row is not None
        assert row.status == "stopped" and row.stopped_at is not None
        assert "stop_request" not in row.state
        with pytest.raises(IllegalTransition):
            await service.mark_running(session, row)
    await act(client, user, bot, "start")
    async with db.session_scope() as session:
        row = await session.get(Bot, bot_id)
        assert row is not None
        await service.mark_running(session, row)
        await service.mark_halted(session, row, "order rate: 50 orders in the last minute")
    halted = (await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)).json()
    assert halted["status"] == "halted"
    assert halted["breaker_state"]["reason"] == "order rate: 50 orders in the last minute"
    async with db.session_scope() as session:
        row = await session.get(Bot, bot_id)
        assert row is not None
        await service.mark_error(session, row, "the strategy raised ValueError")
    failed = (await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)).json()
    assert failed["status"] == "error" and failed["error"] == "the strategy raised ValueError"

    events = (await client.get(f"{BOTS}/{bot['id']}/events", headers=user.headers)).json()
    assert [e["kind"] for e in events["items"]][:4] == [
        "error", "breaker_tripped", "started", "start_requested"
    ]  # fmt: skip
    restarted = await act(client, user, bot, "stop")
    assert restarted.status_code == 202
    assert (await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)).json()["error"] == (
        "the strategy raised ValueError"
    )


async def test_a_stopping_bot_can_be_stopped_again_with_other_options(
    client: httpx.AsyncClient, user: ApiUser, db: Database, recorder: Recorder
) -> None:
    """A stop that cannot finish as asked (a sale that never fills) is no dead end: stopping
    again is accepted, replaces the request and wakes the runtime; pause and delete still say
    why they cannot."""
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "running")
    first = await act(client, user, bot, "stop", {"cancel_orders": True, "sell_base": True})
    assert first.status_code == 202

    again = await act(client, user, bot, "stop", {"cancel_orders": True, "sell_base": False})

    assert again.status_code == 202, again.text
    assert again.json()["status"] == "stopping"
    assert [(c.kind, seen) for c, seen in recorder.calls] == [
        (BotCommandKind.STOP, "stopping"),
        (BotCommandKind.STOP, "stopping"),
    ]
    async with db.session_scope() as session:
        row = await session.get(Bot, uuid.UUID(bot["id"]))
        assert row is not None
        assert row.state["stop_request"]["sell_base"] is False
    assert_error_shape(await act(client, user, bot, "pause"), 409, "bot_status_conflict")
    deleted = await client.delete(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert_error_shape(deleted, 409, "bot_status_conflict")
    assert "still stopping" in deleted.json()["error"]["message"]
