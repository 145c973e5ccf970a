"""fills.executed_at and paper_trades.executed_at: when a fill's price was there

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 18:40:00.000000

A paper fill matched against a candle settles at the candle's close (``ts``: when the bot learns
of it, as in the backtest engine) but its price was there from the candle's open: ``executed_at``
keeps that time for the API and the CSV. ``ts`` is left alone: the trade lookups, the strategy's
fill inbox and the fills hypertable key on it. Rows written before this are null (read as ``ts``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the application's column type: a migration must not change when the app does.
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: no table copy on SQLite, no rewrite of the fills hypertable.
    op.add_column("fills", sa.Column("executed_at", TIMESTAMP, nullable=True))
    op.add_column("paper_trades", sa.Column("executed_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    op.drop_column("paper_trades", "executed_at")
    op.drop_column("fills", "executed_at")
