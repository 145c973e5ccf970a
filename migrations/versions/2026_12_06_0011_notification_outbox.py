"""notification outbox: one row per event and matching channel, written by a trigger on events

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:40:00.000000

The trigger makes the outbox row part of the transaction that inserts the event, however the
event is inserted (one ORM row, or an INSERT ... SELECT for every bot owner). It matches the
event's owner, an active channel, the channel's effective event types, and its bots (a channel
for every bot also receives account-level events, which have no bot).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The rows to add for the new event NEW (same text on both databases).
_MATCHING_CHANNELS = """
    INSERT INTO notification_outbox
        (event_id, channel_id, status, attempts, next_attempt_at, created_at)
    SELECT NEW.id, c.id, 'pending', 0, NEW.created_at, NEW.created_at
    FROM notification_channels AS c
    JOIN notification_channel_types AS t
        ON t.channel_id = c.id AND t.event_type = NEW.type
    WHERE c.user_id = NEW.user_id
      AND c.state = 'active'
      AND (c.all_bots OR EXISTS (
            SELECT 1 FROM notification_channel_bots AS b
            WHERE b.channel_id = c.id AND b.bot_id = NEW.bot_id));
"""


def upgrade() -> None:
    op.create_table(
        "notification_outbox",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("event_id", BIGID, nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_outbox_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_notification_outbox_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint(
            "event_id", "channel_id", name=op.f("uq_notification_outbox_event_id_channel_id")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_outbox_status_next_attempt_at",
            ["status", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index("ix_notification_outbox_channel_id", ["channel_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION notification_outbox_enqueue() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {_MATCHING_CHANNELS} RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_notification_outbox AFTER INSERT ON events "
            "FOR EACH ROW EXECUTE FUNCTION notification_outbox_enqueue()"
        )
    else:
        op.execute(
            "CREATE TRIGGER events_notification_outbox AFTER INSERT ON events "
            f"FOR EACH ROW BEGIN {_MATCHING_CHANNELS} END"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS events_notification_outbox" + _on_events())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS notification_outbox_enqueue()")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_outbox_channel_id")
        batch_op.drop_index("ix_notification_outbox_status_next_attempt_at")
    op.drop_table("notification_outbox")


def _on_events() -> str:
    return " ON events" if op.get_bind().dialect.name == "postgresql" else ""
