"""bot_days: the quote currency of each booking and its value in USDT at booking time

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 19:00:00.000000

The daily loss limit is in USDT. A bot trading ETH/BTC realises P&L in BTC, so each row now says
its quote (``quote``), what its bookings were worth in USDT when they were booked
(``realized_usdt``), and the part booked while no USDT price of the quote was known
(``unvalued_pnl``, in quote; a loss there refuses entries rather than being ignored), with the
last rate used (``usdt_rate``). Existing rows take their bot's quote; a USDT row's value is its
P&L, any other row's P&L is left unvalued (no rate was recorded when it was booked).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMNs (native on SQLite 3.35+), not a batch copy of the table.
    op.add_column(
        "bot_days", sa.Column("quote", sa.String(length=20), nullable=False, server_default="")
    )
    op.add_column("bot_days", sa.Column("realized_usdt", MONEY, nullable=False, server_default="0"))
    op.add_column("bot_days", sa.Column("unvalued_pnl", MONEY, nullable=False, server_default="0"))
    op.add_column("bot_days", sa.Column("usdt_rate", MONEY, nullable=True))
    # The quote is what follows the "/" of the bot's symbol (``bots.ledger.split_symbol``).
    op.execute(
        "UPDATE bot_days SET quote = (SELECT substr(bots.symbol, instr(bots.symbol, '/') + 1)"
        " FROM bots WHERE bots.id = bot_days.bot_id)"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE bot_days SET quote = split_part(bots.symbol, '/', 2)"
        " FROM bots WHERE bots.id = bot_days.bot_id"
    )
    op.execute(
        "UPDATE bot_days SET realized_usdt = realized_pnl, usdt_rate = 1 WHERE quote = 'USDT'"
    )
    op.execute("UPDATE bot_days SET unvalued_pnl = realized_pnl WHERE quote <> 'USDT'")


def downgrade() -> None:
    op.drop_column("bot_days", "usdt_rate")
    op.drop_column("bot_days", "unvalued_pnl")
    op.drop_column("bot_days", "realized_usdt")
    op.drop_column("bot_days", "quote")
