"""The horizon the feed reads for its id holes: the transactions running in this database."""

from __future__ import annotations

from sqlalchemy import text

from autogrid.core.db import Database
from autogrid.live.transactions import transaction_horizon


async def test_a_transaction_is_running_until_it_ends(db: Database) -> None:
    async with db.sessionmaker() as writer, db.sessionmaker() as reader:
        xid = await writer.scalar(text("SELECT pg_current_xact_id()::text::bigint"))
        async with reader.begin():
            during = await transaction_horizon(reader)
        await writer.rollback()
        async with reader.begin():
            after = await transaction_horizon(reader)
    assert during is not None and after is not None
    assert xid is not None and xid % 2**32 in during.running
    assert xid % 2**32 not in after.running
