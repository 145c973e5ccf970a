"""scheduled_buys: the once-only key of each recurring-buy slot a DCA bot bought

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")


def upgrade() -> None:
    op.create_table('scheduled_buys',
    sa.Column('bot_id', sa.Uuid(), nullable=False),
    sa.Column('slot_at', TIMESTAMP, nullable=False),
    sa.Column('quote_amount', MONEY, nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('missed_before', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_scheduled_buys_bot_id_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_scheduled_buys_order_id_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_buys')),
    sa.UniqueConstraint('bot_id', 'slot_at', name='uq_scheduled_buys_bot_id_slot_at')
    )
    with op.batch_alter_table('scheduled_buys', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_buys_order_id', ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scheduled_buys', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_buys_order_id')

    op.drop_table('scheduled_buys')
