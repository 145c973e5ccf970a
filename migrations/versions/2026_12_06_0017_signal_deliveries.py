"""signal deliveries: signals handed to a target bot's own step (signal bots, DCA deals)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 19:00:00.000000

A signal that trades (buy, sell, close_all, reverse on a signal bot; start_deal, close_deal on a
DCA bot) is not carried out by the worker that executes the signal: it is queued for the bot, one
``signal_deliveries`` row per (signal, bot), and the bot's step consumes it under its lease in the
transaction of its decision (``consumed_at``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
TIMESTAMP = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "signal_deliveries",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("signal_id", BIGID, nullable=False),
        sa.Column("bot_id", sa.Uuid(), nullable=False),
        sa.Column("queued_at", TIMESTAMP, nullable=False),
        sa.Column("consumed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
            name=op.f("fk_signal_deliveries_signal_id_signals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_signal_deliveries_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_deliveries")),
        sa.UniqueConstraint(
            "signal_id", "bot_id", name=op.f("uq_signal_deliveries_signal_id_bot_id")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("signal_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signal_deliveries_bot_id_consumed_at", ["bot_id", "consumed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signal_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_signal_deliveries_bot_id_consumed_at")
    op.drop_table("signal_deliveries")
