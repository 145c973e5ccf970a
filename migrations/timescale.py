"""TimescaleDB hypertables where the extension can be had; plain indexed tables everywhere else.

The same migration runs on PostgreSQL with or without TimescaleDB and on SQLite: the tables and
their indexes are created identically, then, only where ``timescaledb`` is installable, converted
to hypertables with a compression policy. Every unique index on these tables already contains the
time column, which hypertables require.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# table -> (time column, chunk interval, compress segment-by columns, compress after)
HYPERTABLES: dict[str, tuple[str, str, str, str]] = {
    "ohlcv": ("ts", "30 days", "exchange, symbol, timeframe", "60 days"),
    "fills": ("ts", "7 days", "bot_id", "30 days"),
    "bot_metrics": ("ts", "7 days", "bot_id", "14 days"),
}


def timescale_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    row = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    return row is not None


def enable_hypertables() -> None:
    if not timescale_available():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    for table, (time_column, chunk, segment_by, compress_after) in HYPERTABLES.items():
        op.execute(
            f"SELECT create_hypertable('{table}', '{time_column}', "
            f"chunk_time_interval => INTERVAL '{chunk}', migrate_data => true, "
            "if_not_exists => true)"
        )
        op.execute(
            f"ALTER TABLE {table} SET (timescaledb.compress, "
            f"timescaledb.compress_segmentby = '{segment_by}')"
        )
        op.execute(
            f"SELECT add_compression_policy('{table}', INTERVAL '{compress_after}', "
            "if_not_exists => true)"
        )


def disable_hypertables() -> None:
    # Dropping a hypertable drops its chunks and policies; the tables are dropped right after, so
    # only the policies need removing first to keep the background jobs from erroring.
    if not timescale_available():
        return
    bind = op.get_bind()
    installed = bind.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).first()
    if installed is None:
        return
    for table in HYPERTABLES:
        op.execute(f"SELECT remove_compression_policy('{table}', if_exists => true)")
