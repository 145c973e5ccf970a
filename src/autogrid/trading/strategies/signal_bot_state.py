"""The signal bot's inputs and books: a timed signal, its outcome, and the bot's frozen state.

A signal reaches the strategy as a ``TimedSignal``: the parsed signal (``autogrid.signals.model``,
pure like this package, a contract keeps it so) with the time it arrived and a reference the
caller chooses (its row id live, its index in a replay). Each one handled leaves a
``SignalOutcome`` in the state, so a refusal is never silent: the caller records the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from autogrid.signals.model import (
    Amount,
    AmountUnit,
    EntryZone,
    OrderKind,
    ParsedSignal,
    SignalAction,
    TakeProfit,
)
from autogrid.trading.strategies.refusals import Backoff

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TimedSignal:
    at: datetime  # when it arrived; acted on at the first decision whose ``now`` is at or after
    signal: ParsedSignal
    ref: int = 0  # the caller's reference, echoed in the outcome


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    ref: int
    at: datetime  # the decision's time
    action: str
    accepted: bool
    reason: str = ""  # why it was refused, or what was done in short
    tags: tuple[str, ...] = ()  # orders it placed


@runtime_checkable
class TakesSignals(Protocol):
    """A strategy that acts on signals handed to it (a signal bot's trades, a DCA bot's deals):
    the runtime queues them into its state, lets it decide, then takes the outcomes out (each
    recorded with its signal), so the state never grows with them."""

    def enqueue(self, state: Any, signals: Sequence[TimedSignal]) -> Any: ...

    def take_outcomes(self, state: Any) -> tuple[tuple[SignalOutcome, ...], Any]: ...


@dataclass(frozen=True, slots=True)
class SignalBotState:
    amount: Decimal = ZERO  # base held (net of base fees)
    cost: Decimal = ZERO  # quote paid for it, fees included
    realized_pnl: Decimal = ZERO
    fees_quote: Decimal = ZERO
    seq: int = 0  # order tag counter
    entries: frozenset[str] = frozenset()  # live buy orders
    exits: frozenset[str] = frozenset()  # live sells from signals, stops and close-all
    targets: frozenset[str] = frozenset()  # live take-profit sells
    stop_loss: Decimal | None = None
    take_profits: tuple[TakeProfit, ...] = ()
    queue: tuple[TimedSignal, ...] = ()
    outcomes: tuple[SignalOutcome, ...] = ()
    # A close at market (close_all, reverse, the stop-loss) not over yet: what a buy it cancelled
    # bought as the cancel landed is sold too, once its fill is seen.
    closing: bool = False
    # The close's sale refused before it reached the book: how many times in a row, and when
    # it may be placed again (``refusals.Backoff``).
    refusals: int = 0
    retry_at: datetime | None = None
    # Take-profits that left the book unfilled (rejected by the exchange, cancelled by someone
    # else): to place again (``targets_unplaced``) once ``targets_backoff`` allows.
    targets_unplaced: bool = False
    targets_backoff: Backoff = field(default_factory=Backoff)

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.refusals, self.retry_at)

    def backing_off(self, backoff: Backoff) -> SignalBotState:
        return replace(self, refusals=backoff.refusals, retry_at=backoff.retry_at)

    def evolve(self, **changes: Any) -> SignalBotState:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "amount": str(self.amount),
            "cost": str(self.cost),
            "realized_pnl": str(self.realized_pnl),
            "fees_quote": str(self.fees_quote),
            "seq": self.seq,
            "entries": sorted(self.entries),
            "exits": sorted(self.exits),
            "targets": sorted(self.targets),
            "stop_loss": _text(self.stop_loss),
            "take_profits": [[str(t.price), _text(t.share_percent)] for t in self.take_profits],
            "queue": [
                [item.at.isoformat(), item.ref, signal_to_dict(item.signal)] for item in self.queue
            ],
            "outcomes": [
                [o.ref, o.at.isoformat(), o.action, o.accepted, o.reason, list(o.tags)]
                for o in self.outcomes
            ],
            "closing": self.closing,
            **self.backoff.to_dict(),
            "targets_unplaced": self.targets_unplaced,
            "targets_backoff": self.targets_backoff.to_dict(),
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> SignalBotState:
        return SignalBotState(
            amount=Decimal(data["amount"]),
            cost=Decimal(data["cost"]),
            realized_pnl=Decimal(data["realized_pnl"]),
            fees_quote=Decimal(data["fees_quote"]),
            seq=int(data["seq"]),
            entries=frozenset(data["entries"]),
            exits=frozenset(data["exits"]),
            targets=frozenset(data["targets"]),
            stop_loss=_dec(data["stop_loss"]),
            take_profits=tuple(
                TakeProfit(Decimal(price), _dec(share)) for price, share in data["take_profits"]
            ),
            queue=tuple(
                TimedSignal(datetime.fromisoformat(at), signal_from_dict(body), int(ref))
                for at, ref, body in data["queue"]
            ),
            outcomes=tuple(
                SignalOutcome(int(ref), datetime.fromisoformat(at), action, bool(ok), why, tuple(t))
                for ref, at, action, ok, why, t in data["outcomes"]
            ),
            # These and the back-offs are absent in states stored before them.
            closing=bool(data.get("closing", False)),
            targets_unplaced=bool(data.get("targets_unplaced", False)),
            targets_backoff=Backoff.from_dict(data.get("targets_backoff", {})),
        ).backing_off(Backoff.from_dict(data))


def signal_to_dict(signal: ParsedSignal) -> dict[str, Any]:
    """The fields the bot acts on (the rest stays with the stored signal)."""
    return {
        "action": signal.action.value,
        "format": signal.format,
        "symbol": signal.symbol,
        "order_kind": signal.order_kind.value,
        "price": _text(signal.price),
        "amount": None
        if signal.amount is None
        else [str(signal.amount.value), signal.amount.unit.value],
        "entry_zone": None
        if signal.entry_zone is None
        else [str(signal.entry_zone.low), str(signal.entry_zone.high)],
        "stop_loss": _text(signal.stop_loss),
        "take_profits": [[str(t.price), _text(t.share_percent)] for t in signal.take_profits],
    }


def signal_from_dict(data: Mapping[str, Any]) -> ParsedSignal:
    amount, zone = data["amount"], data["entry_zone"]
    return ParsedSignal(
        action=SignalAction(data["action"]),
        format=data["format"],
        symbol=data["symbol"],
        order_kind=OrderKind(data["order_kind"]),
        price=_dec(data["price"]),
        amount=None if amount is None else Amount(Decimal(amount[0]), AmountUnit(amount[1])),
        entry_zone=None if zone is None else EntryZone(Decimal(zone[0]), Decimal(zone[1])),
        stop_loss=_dec(data["stop_loss"]),
        take_profits=tuple(
            TakeProfit(Decimal(price), _dec(share)) for price, share in data["take_profits"]
        ),
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
