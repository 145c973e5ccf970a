"""bot runtime: the strategy's fill inbox and the global kill switch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
TIMESTAMP = sa.DateTime(timezone=True)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('strategy_inbox',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('bot_id', sa.Uuid(), nullable=False),
    sa.Column('fill_id', sa.Uuid(), nullable=False),
    sa.Column('fill_ts', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_strategy_inbox_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_inbox'))
    )
    with op.batch_alter_table('strategy_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_strategy_inbox_bot_id_id', ['bot_id', 'id'], unique=False)

    op.create_table('kill_switch',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('engaged', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_by', sa.Uuid(), nullable=True),
    sa.Column('changed_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['changed_by'], ['users.id'], name=op.f('fk_kill_switch_changed_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_kill_switch'))
    )


def downgrade() -> None:
    op.drop_table('kill_switch')
    with op.batch_alter_table('strategy_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_strategy_inbox_bot_id_id')

    op.drop_table('strategy_inbox')
