"""events: the event journal (global increasing ids, per user and bot), replacing bot_events

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 08:40:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_EVENTS = sa.table(
    "events",
    sa.column("id", BIGID),
    sa.column("user_id", sa.Uuid()),
    sa.column("bot_id", sa.Uuid()),
    sa.column("type", sa.String(40)),
    sa.column("message", sa.Text()),
    sa.column("data", JSON),
    sa.column("created_at", TIMESTAMP),
)
_BOT_EVENTS = sa.table(
    "bot_events",
    sa.column("id", sa.Uuid()),
    sa.column("bot_id", sa.Uuid()),
    sa.column("kind", sa.String(40)),
    sa.column("message", sa.Text()),
    sa.column("data", JSON),
    sa.column("created_at", TIMESTAMP),
)
_BOTS = sa.table("bots", sa.column("id", sa.Uuid()), sa.column("user_id", sa.Uuid()))


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("bot_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_events_bot_id_bots"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        # Ids never reused on SQLite, even once every event is pruned (see models/event.py).
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_user_id_id", ["user_id", "id"], unique=False)
        batch_op.create_index("ix_events_bot_id_id", ["bot_id", "id"], unique=False)
        batch_op.create_index("ix_events_created_at", ["created_at"], unique=False)
    # The old journal moves over in time order, so its ids follow its times.
    old = (
        sa.select(
            _BOTS.c.user_id,
            _BOT_EVENTS.c.bot_id,
            _BOT_EVENTS.c.kind,
            _BOT_EVENTS.c.message,
            _BOT_EVENTS.c.data,
            _BOT_EVENTS.c.created_at,
        )
        .join(_BOTS, _BOTS.c.id == _BOT_EVENTS.c.bot_id)
        .order_by(_BOT_EVENTS.c.created_at, _BOT_EVENTS.c.id)
    )
    op.execute(
        _EVENTS.insert().from_select(
            ["user_id", "bot_id", "type", "message", "data", "created_at"], old
        )
    )
    with op.batch_alter_table("bot_events", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_events_bot_id_created_at")
    op.drop_table("bot_events")


def downgrade() -> None:
    op.create_table(
        "bot_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("bot_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_bot_events_bot_id_bots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_events")),
    )
    with op.batch_alter_table("bot_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bot_events_bot_id_created_at", ["bot_id", "created_at"], unique=False
        )
    # Bot events go back (account-level ones have no bot to hang on); their ids are new UUIDs,
    # made here because SQLite has no function for them.
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _EVENTS.c.bot_id,
            _EVENTS.c.type,
            _EVENTS.c.message,
            _EVENTS.c.data,
            _EVENTS.c.created_at,
        )
        .where(_EVENTS.c.bot_id.is_not(None))
        .order_by(_EVENTS.c.id)
    ).all()
    if rows:
        bind.execute(
            _BOT_EVENTS.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "bot_id": row.bot_id,
                    "kind": row.type,
                    "message": row.message,
                    "data": row.data,
                    "created_at": row.created_at,
                }
                for row in rows
            ],
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_created_at")
        batch_op.drop_index("ix_events_bot_id_id")
        batch_op.drop_index("ix_events_user_id_id")
    op.drop_table("events")
