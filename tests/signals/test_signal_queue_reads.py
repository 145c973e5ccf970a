"""A bot that takes signals reads its queue only when the lease found signals in it: a tick with
nothing queued issues no query of the queue, and a signal queued while a tick was under way
(its lease found the queue empty) brings the next tick forward, which acts on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import event

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.scheduling.lease import Lease
from autogrid.scheduling.ticking import tick_bot
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser
from tests.signals.conftest import make_source
from tests.signals.test_signal_bot import queued_rows, send, signal, signal_bot
from tests.signals.test_signal_bot_delivery import BUY
from tests.support.factories import load_bot, orders_of


@contextmanager
def queue_reads(db: Database) -> Iterator[list[str]]:
    """The statements that read the bot's signal queue while the block runs (not the lease's
    EXISTS, part of its UPDATE, nor the decision's lock of the rows it consumes)."""
    seen: list[str] = []

    def note(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = statement.lstrip().upper()
        if "SIGNAL_DELIVERIES" in text and text.startswith("SELECT") and "FOR UPDATE" not in text:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def test_a_tick_with_nothing_queued_never_reads_the_queue(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    with queue_reads(db) as reads:
        await tick_bot(ctx, uuid.UUID(bot_id))
    assert reads == []

    signal_id = await send(client, db, settings, source["token"], BUY)
    with queue_reads(db) as reads:
        await tick_bot(ctx, uuid.UUID(bot_id))
    assert len(reads) == 1  # read once, acted on
    assert (await signal(client, user, signal_id))["outcome"] != "queued"

    with queue_reads(db) as reads:
        await tick_bot(ctx, uuid.UUID(bot_id))
    assert reads == []


async def test_a_signal_queued_during_a_tick_is_acted_on_by_the_next_brought_forward(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = uuid.UUID(await signal_bot(client, user, ctx))
    source = await make_source(client, user, [str(bot_id)])
    lease = Lease(ctx, bot_id)
    assert await lease.acquire()  # a tick under way: its lease found nothing queued

    signal_id = await send(client, db, settings, source["token"], BUY)
    await tick_bot(ctx, bot_id, lease)

    assert (await signal(client, user, signal_id))["outcome"] == "queued"
    next_at = (await load_bot(db, bot_id)).next_tick_at
    assert next_at is not None and next_at <= datetime.now(UTC)  # due at once
    await tick_bot(ctx, bot_id)
    assert (await signal(client, user, signal_id))["outcome"] == "executed"
    assert await queued_rows(db) == [(signal_id, True)]
    assert len(await orders_of(db, bot_id)) == 1
