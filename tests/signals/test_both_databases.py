"""The entry and execution on PostgreSQL and on SQLite (the embedded mode): the UPDATE that finds
a source by its token, duplicate posts, rotation, and a pause carried out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from autogrid.bots.markets import conservative_market_rules
from autogrid.core.db import Database
from autogrid.models import Bot, Event, User
from autogrid.signals import entry_limit, execution, intake, service
from autogrid.signals.schemas import SourceCreate
from tests.support.factories import make_bot, make_user


async def test_intake_dedup_rotation_and_execution(database: Database) -> None:
    user_id = await make_user(database)
    bot_id = await make_bot(database, user_id, status="running")
    async with database.session_scope() as session:
        user = await session.get(User, user_id)
        assert user is not None
        created = await service.create_source(
            session, user, SourceCreate(name="tv", bot_ids=[bot_id], dedup_window_seconds=60)
        )

    async def post(token: str, body: bytes) -> intake.Intake:
        async with database.session_scope() as session:
            presented = await entry_limit.identify(session, token)
            return await intake.receive(
                session, presented=presented, body=body, client_ip="10.0.0.1"
            )

    first = await post(created.token, b'{"action": "pause"}')
    again = await post(created.token, b'{"action": "pause"}')
    assert (first.signal.outcome, first.execute) == ("accepted", True)
    assert (again.signal.outcome, again.execute) == ("duplicate", False)

    async with database.session_scope() as session:
        commands = await execution.execute(session, first.signal.id, conservative_market_rules)
    assert [c.bot_id for c in commands] == [bot_id]

    async with database.session_scope() as session:
        assert user is not None
        rotated = await service.rotate_token(session, user, created.id)
    with pytest.raises(intake.UnknownSource):
        await post(created.token, b'{"action": "resume"}')
    assert (await post(rotated.token, b'{"action": "resume"}')).signal.outcome == "accepted"

    async with database.session_scope() as session:
        bot = await session.get(Bot, bot_id)
        assert bot is not None and bot.status == "paused"
        kinds = (await session.scalars(select(Event.type).order_by(Event.id))).all()
    assert kinds == [
        "signal_received",
        "signal_refused",
        "paused",
        "signal_executed",
        "signal_received",
    ]
