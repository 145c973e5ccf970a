"""The chaos run's audit reads our records with plain SQL (so it does not trust the code it
checks): that SQL must keep up with the schema, or the audit dies after a 15-minute run."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from autogrid.core.config import load_settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from tests.infra import migrated_database
from tests.support.factories import make_bot, make_user

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from chaoskit.records import _our_side


def test_the_audit_reads_orders_fills_events_and_bots_of_the_current_schema() -> None:
    with migrated_database("autogrid_chaos_records") as url:

        async def scenario() -> tuple[str, list[str], list[bool]]:
            database = Database.from_settings(load_settings(database_url=url), pooled=False)
            try:
                user_id = await make_user(database)
                bot_id = await make_bot(database, user_id, status="stopping")
                async with database.session_scope() as session:
                    for type in (EventType.STOP_REQUESTED, EventType.ORDER_REPLACED):
                        record_event(
                            session,
                            user_id=user_id,
                            bot_id=bot_id,
                            type=type,
                            message=type.value,
                            at=utcnow(),
                        )
            finally:
                await database.dispose()
            dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
            orders, fills, events, bots = await _our_side(dsn, {str(bot_id): "key-1"})
            assert (orders, fills) == ([], [])
            return (
                str(bot_id),
                [e.kind for e in events],
                [b.stop_requested_at is not None for b in bots],
            )

        _bot_id, kinds, stop_seen = asyncio.run(scenario())
    assert kinds == ["stop_requested", "order_replaced"]
    assert stop_seen == [True]  # the stop request is found in the journal
