"""backtest sweeps, and each backtest's rendered HTML report

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('backtest_sweeps',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('vary', JSON, nullable=False),
    sa.Column('rank_by', sa.String(length=32), nullable=False),
    sa.Column('sort_order', sa.String(length=4), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_backtest_sweeps_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backtest_sweeps'))
    )
    with op.batch_alter_table('backtest_sweeps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backtest_sweeps_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('backtests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_html', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_backtests_sweep_id_backtest_sweeps'), 'backtest_sweeps', ['sweep_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('backtests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_backtests_sweep_id_backtest_sweeps'), type_='foreignkey')
        batch_op.drop_column('report_html')

    with op.batch_alter_table('backtest_sweeps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backtest_sweeps_user_id'))

    op.drop_table('backtest_sweeps')
