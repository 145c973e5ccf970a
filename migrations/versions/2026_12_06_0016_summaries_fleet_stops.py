"""daily summaries, notification preferences, the fleet watchdog's state, who stopped a bot

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 16:00:00.000000

``notification_preferences`` holds a user's time zone and the local hour of their daily
summary; ``daily_summaries`` is keyed by user and local day, so a summary is recorded once a
day however many beats or workers try. ``fleet_alert_state`` is the single row (id 1) in which
the fleet watchdog remembers an ongoing stall, announced once. ``bots.stop_initiator`` says
whether the owner or the bot itself (error, breaker, strategy, replay's end) stopped it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A plain ADD COLUMN (native on SQLite 3.35+), not a batch copy of the bots table.
    op.add_column("bots", sa.Column("stop_initiator", sa.String(length=8), nullable=True))
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("daily_summary_hour", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "daily_summaries",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_daily_summaries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_daily_summaries")),
    )
    op.create_table(
        "fleet_alert_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stalled_since", TIMESTAMP, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("checked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_alert_state")),
    )


def downgrade() -> None:
    op.drop_table("fleet_alert_state")
    op.drop_table("daily_summaries")
    op.drop_table("notification_preferences")
    op.drop_column("bots", "stop_initiator")
