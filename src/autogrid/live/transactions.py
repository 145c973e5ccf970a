"""Which transactions PostgreSQL has running in this database, as a ``Horizon`` for the feed's
id holes.

Only a transaction connected to this database can insert journal rows, so a long transaction in
another database of the same server does not hold the streams back. ``pg_stat_activity`` gives
each session's transaction id as read from the server's live process table (a snapshot's
``xmin`` would be server-wide, and its ``xmax`` is not the next id to be assigned: transactions
started after the last one that ended are above it); prepared transactions count too. A role
that cannot see every session of the database (no ``pg_read_all_stats``) gets no horizon, and
holes then wait for their grace as they did before.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.live.ordering import Horizon

_FORGET_ACTIVITY = text("SELECT pg_stat_clear_snapshot()")
_RUNNING_HERE = text(
    """
SELECT
    array(
        SELECT backend_xid::text::bigint FROM pg_stat_activity
        WHERE datname = current_database() AND backend_xid IS NOT NULL
        UNION ALL
        SELECT transaction::text::bigint FROM pg_prepared_xacts
        WHERE database = current_database()
    ),
    EXISTS (
        SELECT 1 FROM pg_stat_activity
        WHERE datname = current_database() AND query = '<insufficient privilege>'
    )
"""
)


async def transaction_horizon(session: AsyncSession) -> Horizon | None:
    """The transactions running in this database now; None when some are hidden from us."""
    # A transaction reads pg_stat_activity once and keeps that copy: drop it, to read now.
    await session.execute(_FORGET_ACTIVITY)
    running, hidden = (await session.execute(_RUNNING_HERE)).one()
    if hidden:
        return None
    return Horizon(frozenset(int(xid) for xid in running))
