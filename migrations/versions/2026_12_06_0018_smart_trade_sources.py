"""a signal source may open smart trades

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 19:00:00.000000

``signal_sources.smart_trade``: the source's smart-trade template (mode, credential or paper
settings, default symbol and amount, the exits' defaults); null: the source only acts on its
target bots. A buy signal on a source with a template opens a smart trade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # A plain ADD COLUMN (native on SQLite), not a batch copy of the table.
    op.add_column("signal_sources", sa.Column("smart_trade", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signal_sources") as batch:
        batch.drop_column("smart_trade")
