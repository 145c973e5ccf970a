"""paper exchange: simulated accounts, balances, orders and trades

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_ONLY = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table('paper_accounts',
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('maker_fee', MONEY, nullable=False),
    sa.Column('taker_fee', MONEY, nullable=False),
    sa.Column('slippage', MONEY, nullable=False),
    sa.Column('price_source', sa.String(length=8), nullable=False),
    sa.Column('timeframe', sa.String(length=8), nullable=False),
    sa.Column('replay_start', TIMESTAMP, nullable=True),
    sa.Column('replay_speed', MONEY, nullable=True),
    sa.Column('replay_anchor', TIMESTAMP, nullable=True),
    sa.Column('matched_until', TIMESTAMP, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("price_source IN ('replay', 'live')", name=op.f('ck_paper_accounts_price_source')),
    sa.CheckConstraint("price_source = 'live' OR (replay_start IS NOT NULL AND replay_anchor IS NOT NULL AND replay_speed IS NOT NULL)", name=op.f('ck_paper_accounts_replay_clock')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_paper_accounts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_accounts'))
    )
    with op.batch_alter_table('paper_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_accounts_user_id'), ['user_id'], unique=False)

    op.create_table('paper_balances',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('currency', sa.String(length=16), nullable=False),
    sa.Column('free', MONEY, nullable=False),
    sa.Column('locked', MONEY, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['paper_accounts.id'], name=op.f('fk_paper_balances_account_id_paper_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'currency', name=op.f('pk_paper_balances'))
    )
    op.create_table('paper_orders',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('client_order_id', sa.String(length=36), nullable=False),
    sa.Column('exchange_order_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=40), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('price', MONEY, nullable=True),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('filled', MONEY, nullable=False),
    sa.Column('average_price', MONEY, nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('locked', MONEY, nullable=False),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('fee_currency', sa.String(length=16), nullable=True),
    sa.Column('placed_at', TIMESTAMP, nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['paper_accounts.id'], name=op.f('fk_paper_orders_account_id_paper_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_orders')),
    sa.UniqueConstraint('exchange_order_id', name=op.f('uq_paper_orders_exchange_order_id'))
    )
    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.create_index('ix_paper_orders_account_id_client_order_id', ['account_id', 'client_order_id'], unique=False)
        batch_op.create_index('ix_paper_orders_account_id_status', ['account_id', 'status'], unique=False)
        batch_op.create_index('uq_paper_orders_open_client_order_id', ['account_id', 'client_order_id'], unique=True, postgresql_where=OPEN_ONLY, sqlite_where=OPEN_ONLY)

    op.create_table('paper_trades',
    sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
    sa.Column('order_id', ROW_ID, nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('trade_id', sa.String(length=64), nullable=False),
    sa.Column('price', MONEY, nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('fee_currency', sa.String(length=16), nullable=False),
    sa.Column('is_maker', sa.Boolean(), nullable=False),
    sa.Column('ts', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['paper_accounts.id'], name=op.f('fk_paper_trades_account_id_paper_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['paper_orders.id'], name=op.f('fk_paper_trades_order_id_paper_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_trades')),
    sa.UniqueConstraint('trade_id', name=op.f('uq_paper_trades_trade_id'))
    )
    with op.batch_alter_table('paper_trades', schema=None) as batch_op:
        batch_op.create_index('ix_paper_trades_account_id_ts', ['account_id', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_paper_trades_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('paper_trades', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_trades_order_id'))
        batch_op.drop_index('ix_paper_trades_account_id_ts')

    op.drop_table('paper_trades')
    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.drop_index('uq_paper_orders_open_client_order_id', postgresql_where=OPEN_ONLY, sqlite_where=OPEN_ONLY)
        batch_op.drop_index('ix_paper_orders_account_id_status')
        batch_op.drop_index('ix_paper_orders_account_id_client_order_id')

    op.drop_table('paper_orders')
    op.drop_table('paper_balances')
    with op.batch_alter_table('paper_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_accounts_user_id'))

    op.drop_table('paper_accounts')
