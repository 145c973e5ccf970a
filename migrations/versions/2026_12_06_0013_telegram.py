"""telegram: link codes and chat lookups on channels, handled updates, the poller's lease

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00.000000

A Telegram channel is created waiting for its chat (state ``pending``, which the outbox trigger
of 0011 ignores: only ``active`` channels receive events). ``link_code_hash`` is the SHA-256 of
the one-time code in the deep link, ``link_expires_at`` its end; ``chat_lookup`` is a keyed hash
of the linked chat's id (the id itself is only in the encrypted config), unique, so one chat
belongs to one channel. ``telegram_updates`` remembers every handled update id so an update
delivered twice (a webhook retry, a poller restarted before confirming) acts once;
``telegram_poller`` is the single row whose lease lets one process at a time poll getUpdates.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTERs, not a batch copy of the table: on SQLite that copy is renamed into place,
    # which the events trigger of 0011 (it reads notification_channels) refuses. Adding and
    # dropping a column are native there (SQLite 3.35+).
    op.add_column("notification_channels", sa.Column("link_code_hash", sa.String(64)))
    op.add_column("notification_channels", sa.Column("link_expires_at", TIMESTAMP))
    op.add_column("notification_channels", sa.Column("chat_lookup", sa.String(64)))
    op.create_index(
        op.f("ix_notification_channels_link_code_hash"),
        "notification_channels",
        ["link_code_hash"],
        unique=True,
    )
    op.create_index(
        op.f("ix_notification_channels_chat_lookup"),
        "notification_channels",
        ["chat_lookup"],
        unique=True,
    )
    op.create_table(
        "telegram_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_telegram_updates")),
    )
    with op.batch_alter_table("telegram_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telegram_updates_received_at"), ["received_at"], unique=False
        )
    op.create_table(
        "telegram_poller",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("leased_until", TIMESTAMP, nullable=True),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_poller")),
    )


def downgrade() -> None:
    op.drop_table("telegram_poller")
    with op.batch_alter_table("telegram_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telegram_updates_received_at"))
    op.drop_table("telegram_updates")
    op.drop_index(op.f("ix_notification_channels_chat_lookup"), "notification_channels")
    op.drop_index(op.f("ix_notification_channels_link_code_hash"), "notification_channels")
    op.drop_column("notification_channels", "chat_lookup")
    op.drop_column("notification_channels", "link_expires_at")
    op.drop_column("notification_channels", "link_code_hash")
