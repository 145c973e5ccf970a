"""Drop the time indexes TimescaleDB's create_hypertable added by default (not in the models)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:40:00.000000
"""

from collections.abc import Sequence

from migrations.timescale import drop_default_time_indexes, restore_default_time_indexes

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only where TimescaleDB is installed; plain PostgreSQL and SQLite never had them.
    drop_default_time_indexes()


def downgrade() -> None:
    restore_default_time_indexes()
