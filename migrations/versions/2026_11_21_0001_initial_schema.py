"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 01:16:25.428148
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from migrations.timescale import disable_hypertables, enable_hypertables
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the application's column types: a migration must not change when the app does.
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('fills',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ts', TIMESTAMP, nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('bot_id', sa.Uuid(), nullable=False),
    sa.Column('trade_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('price', MONEY, nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('fee_currency', sa.String(length=16), nullable=True),
    sa.Column('is_maker', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('id', 'ts', name=op.f('pk_fills'))
    )
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.create_index('ix_fills_bot_id_ts', ['bot_id', 'ts'], unique=False)
        batch_op.create_index('ix_fills_order_id_trade_id', ['order_id', 'trade_id', 'ts'], unique=True)

    op.create_table('ohlcv',
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=40), nullable=False),
    sa.Column('timeframe', sa.String(length=8), nullable=False),
    sa.Column('ts', TIMESTAMP, nullable=False),
    sa.Column('open', MONEY, nullable=False),
    sa.Column('high', MONEY, nullable=False),
    sa.Column('low', MONEY, nullable=False),
    sa.Column('close', MONEY, nullable=False),
    sa.Column('volume', MONEY, nullable=False),
    sa.PrimaryKeyConstraint('exchange', 'symbol', 'timeframe', 'ts', name=op.f('pk_ohlcv'))
    )
    op.create_table('users',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('plan', sa.String(length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('backtests',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('sweep_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', JSON, nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('results', JSON, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', TIMESTAMP, nullable=True),
    sa.Column('finished_at', TIMESTAMP, nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_backtests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backtests'))
    )
    with op.batch_alter_table('backtests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backtests_sweep_id'), ['sweep_id'], unique=False)
        batch_op.create_index('ix_backtests_user_id_status', ['user_id', 'status'], unique=False)

    op.create_table('exchange_credentials',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('api_key_masked', sa.String(length=32), nullable=False),
    sa.Column('api_key_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('api_secret_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('passphrase_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('permissions', JSON, nullable=True),
    sa.Column('last_validated_at', TIMESTAMP, nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_exchange_credentials_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_credentials')),
    sa.UniqueConstraint('user_id', 'label', name=op.f('uq_exchange_credentials_user_id_label'))
    )
    with op.batch_alter_table('exchange_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_credentials_user_id'), ['user_id'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('issued_at', TIMESTAMP, nullable=False),
    sa.Column('expires_at', TIMESTAMP, nullable=False),
    sa.Column('revoked_at', TIMESTAMP, nullable=True),
    sa.Column('replaced_by_jti', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_refresh_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('jti', name=op.f('uq_refresh_tokens_jti'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_refresh_tokens_family_id', ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('bots',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('credential_id', sa.Uuid(), nullable=True),
    sa.Column('paper', JSON, nullable=True),
    sa.Column('config', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('state', JSON, nullable=False),
    sa.Column('investment', MONEY, nullable=True),
    sa.Column('tick_interval_seconds', sa.Integer(), nullable=False),
    sa.Column('next_tick_at', TIMESTAMP, nullable=True),
    sa.Column('last_tick_at', TIMESTAMP, nullable=True),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_expires_at', TIMESTAMP, nullable=True),
    sa.Column('breaker_reason', sa.Text(), nullable=True),
    sa.Column('breaker_tripped_at', TIMESTAMP, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', TIMESTAMP, nullable=True),
    sa.Column('stopped_at', TIMESTAMP, nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['exchange_credentials.id'], name=op.f('fk_bots_credential_id_exchange_credentials'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_bots_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bots'))
    )
    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bots_credential_id'), ['credential_id'], unique=False)
        batch_op.create_index('ix_bots_status_next_tick_at', ['status', 'next_tick_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bots_user_id'), ['user_id'], unique=False)

    op.create_table('bot_events',
    sa.Column('bot_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('data', JSON, nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_events_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_events'))
    )
    with op.batch_alter_table('bot_events', schema=None) as batch_op:
        batch_op.create_index('ix_bot_events_bot_id_created_at', ['bot_id', 'created_at'], unique=False)

    op.create_table('bot_metrics',
    sa.Column('bot_id', sa.Uuid(), nullable=False),
    sa.Column('ts', TIMESTAMP, nullable=False),
    sa.Column('equity', MONEY, nullable=False),
    sa.Column('realized_pnl', MONEY, nullable=False),
    sa.Column('unrealized_pnl', MONEY, nullable=False),
    sa.Column('position', MONEY, nullable=False),
    sa.Column('price', MONEY, nullable=True),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_metrics_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bot_id', 'ts', name=op.f('pk_bot_metrics'))
    )
    op.create_table('orders',
    sa.Column('bot_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('client_order_id', sa.String(length=36), nullable=False),
    sa.Column('exchange_order_id', sa.String(length=64), nullable=True),
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=40), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('price', MONEY, nullable=True),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('filled', MONEY, nullable=False),
    sa.Column('average_price', MONEY, nullable=True),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('fee_currency', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('intent', JSON, nullable=True),
    sa.Column('unknown_checks', sa.Integer(), nullable=False),
    sa.Column('last_checked_at', TIMESTAMP, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('submitted_at', TIMESTAMP, nullable=True),
    sa.Column('closed_at', TIMESTAMP, nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_orders_bot_id_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_orders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_orders_client_order_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_bot_id_status', ['bot_id', 'status'], unique=False)
        batch_op.create_index('ix_orders_status_updated_at', ['status', 'updated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_user_id'), ['user_id'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('data', JSON, nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_events_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index('ix_order_events_order_id_seq', ['order_id', 'id'], unique=False)


    enable_hypertables()

def downgrade() -> None:
    disable_hypertables()
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index('ix_order_events_order_id_seq')

    op.drop_table('order_events')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_user_id'))
        batch_op.drop_index('ix_orders_status_updated_at')
        batch_op.drop_index('ix_orders_bot_id_status')

    op.drop_table('orders')
    op.drop_table('bot_metrics')
    with op.batch_alter_table('bot_events', schema=None) as batch_op:
        batch_op.drop_index('ix_bot_events_bot_id_created_at')

    op.drop_table('bot_events')
    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bots_user_id'))
        batch_op.drop_index('ix_bots_status_next_tick_at')
        batch_op.drop_index(batch_op.f('ix_bots_credential_id'))

    op.drop_table('bots')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_user_id'))
        batch_op.drop_index('ix_refresh_tokens_family_id')

    op.drop_table('refresh_tokens')
    with op.batch_alter_table('exchange_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_credentials_user_id'))

    op.drop_table('exchange_credentials')
    with op.batch_alter_table('backtests', schema=None) as batch_op:
        batch_op.drop_index('ix_backtests_user_id_status')
        batch_op.drop_index(batch_op.f('ix_backtests_sweep_id'))

    op.drop_table('backtests')
    op.drop_table('users')
    op.drop_table('ohlcv')
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.drop_index('ix_fills_order_id_trade_id')
        batch_op.drop_index('ix_fills_bot_id_ts')

    op.drop_table('fills')
