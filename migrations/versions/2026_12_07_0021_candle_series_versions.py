"""candle_series_versions: a counter per candle series, bumped by every write of its candles

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 10:50:00.000000

A sweep's candles are cached by the worker processes (in memory and in files under ``var_dir``)
beyond the sweep: the next sweep over the same range reads them without the database. A cache
is valid only while its series is unchanged, and the range's first and last open time cannot see
a candle corrected in the middle: ``writes`` can, as the candle writer bumps it in the writing
transaction. A plain small table (not a hypertable): one row per series written since.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candle_series_versions",
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("writes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "timeframe", name=op.f("pk_candle_series_versions")
        ),
    )


def downgrade() -> None:
    op.drop_table("candle_series_versions")
