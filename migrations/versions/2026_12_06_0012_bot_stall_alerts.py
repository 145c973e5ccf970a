"""bot stall alerts: the dead-man check remembers which stall of a bot it already reported

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bot_stall_alerts",
        sa.Column("bot_id", sa.Uuid(), nullable=False),
        sa.Column("last_tick_at", TIMESTAMP, nullable=True),
        sa.Column("alerted_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_bot_stall_alerts_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bot_id", name=op.f("pk_bot_stall_alerts")),
    )


def downgrade() -> None:
    op.drop_table("bot_stall_alerts")
