"""A bot's results from its fills, as the portfolio shows them. Pure.

The fills fold into the same ledger the bot stats use (``bots.ledger``: average cost, fees
included); each sell that realises a gain is a win, one that realises a loss a loss (a sale of
base the bot never bought realises nothing and is neither). Trades today are the fills whose
exchange time falls on the current UTC day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from autogrid.bots.ledger import Ledger, LedgerFill, split_symbol

ZERO = Decimal(0)


class TimedFill(LedgerFill, Protocol):
    @property
    def ts(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class BotFigures:
    ledger: Ledger
    wins: int = 0
    losses: int = 0
    trades_today: int = 0


def bot_figures(fills: Iterable[TimedFill], symbol: str, day_start: datetime) -> BotFigures:
    """``fills`` oldest first."""
    base, quote = split_symbol(symbol)
    ledger, wins, losses, today = Ledger(), 0, 0, 0
    for fill in fills:
        before = ledger.realized
        ledger = ledger.add_fill(fill, base, quote)
        change = ledger.realized - before
        wins += change > 0
        losses += change < 0
        today += fill.ts >= day_start
    return BotFigures(ledger, wins, losses, today)


def win_rate(wins: int, losses: int) -> Decimal | None:
    """Winning closes over all closes, in percent (None before the first close)."""
    closes = wins + losses
    if closes == 0:
        return None
    return (Decimal(wins) * 100 / Decimal(closes)).quantize(Decimal("0.01"))
