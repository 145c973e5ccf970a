"""signals: external signal sources (hashed tokens, target bots) and every signal they sent

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 16:00:00.000000

``signal_sources.token_hash`` is the SHA-256 of the source's token (the token itself is shown
once and never stored), unique so a post finds its source by one indexed lookup.
``signal_source_bots`` names the bots a source acts on (foreign keys both ways). ``signals``
keeps each post with its outcome. A post finds its source by updating its ``last_signal_at``
(found by token hash): that write locks the source row, so the duplicate checks of two posts to
one source run one after the other, on any number of API processes (see
``autogrid.signals.intake``), served by the (source, alert id) and (source, body hash, time)
indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "signal_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=12), nullable=False),
        sa.Column("allowed_ips", JSON, nullable=False),
        sa.Column("dedup_window_seconds", sa.Integer(), nullable=False),
        sa.Column("max_lag_seconds", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("rotated_at", TIMESTAMP, nullable=True),
        sa.Column("last_signal_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_signal_sources_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_sources")),
    )
    with op.batch_alter_table("signal_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_sources_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_signal_sources_token_hash"), ["token_hash"], unique=True
        )
    op.create_table(
        "signal_source_bots",
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("bot_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_signal_source_bots_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["signal_sources.id"],
            name=op.f("fk_signal_source_bots_source_id_signal_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "bot_id", name=op.f("pk_signal_source_bots")),
    )
    with op.batch_alter_table("signal_source_bots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_source_bots_bot_id"), ["bot_id"], unique=False)
    op.create_table(
        "signals",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.String(length=200), nullable=True),
        sa.Column("format", sa.String(length=20), nullable=True),
        sa.Column("parsed", JSON, nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error_position", sa.Integer(), nullable=True),
        sa.Column("results", JSON, nullable=True),
        sa.Column("executed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["signal_sources.id"],
            name=op.f("fk_signals_source_id_signal_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_signals_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index("ix_signals_user_id_id", ["user_id", "id"], unique=False)
        batch_op.create_index(
            "ix_signals_source_id_alert_id", ["source_id", "alert_id"], unique=False
        )
        batch_op.create_index(
            "ix_signals_source_id_body_hash_received_at",
            ["source_id", "body_hash", "received_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_signals_outcome_received_at", ["outcome", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index("ix_signals_outcome_received_at")
        batch_op.drop_index("ix_signals_source_id_body_hash_received_at")
        batch_op.drop_index("ix_signals_source_id_alert_id")
        batch_op.drop_index("ix_signals_user_id_id")
    op.drop_table("signals")
    with op.batch_alter_table("signal_source_bots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signal_source_bots_bot_id"))
    op.drop_table("signal_source_bots")
    with op.batch_alter_table("signal_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signal_sources_token_hash"))
        batch_op.drop_index(batch_op.f("ix_signal_sources_user_id"))
    op.drop_table("signal_sources")
