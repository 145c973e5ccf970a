"""What a parsed signal asks for, independent of the format it arrived in.

Pure values: the grammar produces them, the entry point stores them, execution acts on them.
Nothing here does I/O, so the same parse runs in the dry-run endpoint, the webhook and a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class SignalAction(StrEnum):
    """The closed list of things a signal can ask for."""

    BUY = "buy"  # enter (or add to) a long position
    SELL = "sell"  # exit (part of) a long position
    CLOSE_ALL = "close_all"  # exit every position of the target
    REVERSE = "reverse"  # close what is open, then enter the other way (long-only: close, then buy)
    START_DEAL = "start_deal"  # a DCA bot opens a deal now
    CLOSE_DEAL = "close_deal"  # a DCA bot closes its open deal at market
    PAUSE = "pause"
    RESUME = "resume"


class AmountUnit(StrEnum):
    QUOTE = "quote"  # e.g. 100 USDT
    BASE = "base"  # e.g. 0.01 BTC
    PERCENT = "percent"  # share of free balance, 0 < value <= 100


class OrderKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class Amount:
    value: Decimal
    unit: AmountUnit


@dataclass(frozen=True, slots=True)
class TakeProfit:
    price: Decimal
    # Share of the position this step closes, in percent; None: split evenly by whoever executes it.
    share_percent: Decimal | None = None


@dataclass(frozen=True, slots=True)
class EntryZone:
    low: Decimal
    high: Decimal


@dataclass(frozen=True, slots=True)
class ParsedSignal:
    """One signal as understood, whatever its format. Prices are in quote per base."""

    action: SignalAction
    # Which grammar understood it: "tradingview", "3commas", "key_value", "free_text"; "llm" when
    # the optional language-model fallback did (autogrid.signals.llm_fallback).
    format: str
    symbol: str | None = None  # unified "BASE/QUOTE", e.g. "BTC/USDT"
    order_kind: OrderKind = OrderKind.MARKET
    price: Decimal | None = None  # limit price, or the price the sender saw (trigger price)
    amount: Amount | None = None
    entry_zone: EntryZone | None = None
    stop_loss: Decimal | None = None
    take_profits: tuple[TakeProfit, ...] = ()
    alert_id: str | None = None  # the sender's own id, used to drop repeats
    sent_at: datetime | None = None  # when the sender says it fired (timezone-aware UTC)
    max_lag_seconds: int | None = None  # refuse it if it arrives later than this after sent_at
    tag: str | None = None


class SignalParseError(ValueError):
    """A message no grammar understood. `position` is the 0-based character offset of the fault."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at character {self.position})"
