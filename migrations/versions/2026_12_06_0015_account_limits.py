"""account limits: a user's limits over all their bots, realised P&L booked per bot and day

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 16:00:00.000000

``account_limits`` holds at most one row per user (every limit nullable: no limit); a decision
with an entry locks that row while it reads today's figures, so the bots of one user check
their entries one after the other. ``bot_days`` is the realised P&L each bot booked per UTC day
(the daily loss limit sums a user's rows of today). ``account_limit_notices`` remembers which
limit already told its owner it was reached on a day, so a refusal is journalled once a day
rather than at every tick.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")


def upgrade() -> None:
    op.create_table(
        "account_limits",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("max_trades_per_day", sa.Integer(), nullable=True),
        sa.Column("max_daily_loss", MONEY, nullable=True),
        sa.Column("max_risk_per_trade_pct", MONEY, nullable=True),
        sa.Column("max_open_positions", sa.Integer(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_limits_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_limits")),
    )
    op.create_table(
        "bot_days",
        sa.Column("bot_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("realized_pnl", MONEY, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_bot_days_bot_id_bots"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bot_days_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("bot_id", "day", name=op.f("pk_bot_days")),
    )
    op.create_index("ix_bot_days_user_id_day", "bot_days", ["user_id", "day"], unique=False)
    op.create_table(
        "account_limit_notices",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("limit_name", sa.String(length=40), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_limit_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "day", "limit_name", name=op.f("pk_account_limit_notices")
        ),
    )


def downgrade() -> None:
    op.drop_table("account_limit_notices")
    op.drop_index("ix_bot_days_user_id_day", table_name="bot_days")
    op.drop_table("bot_days")
    op.drop_table("account_limits")
