"""Checks that make sense for money, the same whatever the format.

A grammar builds a ParsedSignal and says where each field came from; this module refuses the
signal if its numbers contradict each other (a stop above the entry of a long, a target below it),
pointing at the field at fault. Executing such a signal would lose money by construction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from autogrid.signals.model import (
    AmountUnit,
    OrderKind,
    ParsedSignal,
    SignalAction,
    SignalParseError,
    TakeProfit,
)

MAX_TAKE_PROFITS = 10
# A sender's clock may run a little ahead of ours; more than this is a wrong clock or a forged time.
MAX_CLOCK_SKEW = timedelta(minutes=5)

_SYMBOL = re.compile(r"[A-Z0-9]{1,15}/[A-Z0-9]{1,15}")
ENTRY_ACTIONS = frozenset({SignalAction.BUY, SignalAction.REVERSE})


class Positions(dict[str, int]):
    """Field name -> character position it was read from; unknown fields point at the start."""

    def of(self, field: str) -> int:
        return self.get(field, self.get("action", 0))


def finish(
    signal: ParsedSignal, positions: Mapping[str, int], now: datetime | None
) -> ParsedSignal:
    """Validate a freshly built signal and put its take-profits in ascending order."""
    where = Positions(positions)
    _check_values(signal, where)
    _check_amount(signal, where)
    _check_time(signal, where, now)
    if signal.order_kind is OrderKind.LIMIT and signal.price is None and signal.entry_zone is None:
        raise SignalParseError("a limit order needs a price", where.of("order_kind"))
    if signal.entry_zone is not None and signal.entry_zone.low >= signal.entry_zone.high:
        raise SignalParseError("an entry zone's low must be below its high", where.of("entry_zone"))
    take_profits = _ordered_take_profits(signal.take_profits, where)
    signal = replace(signal, take_profits=take_profits)
    if signal.action in ENTRY_ACTIONS:
        _check_long_levels(signal, where)
    elif signal.stop_loss is not None or signal.take_profits or signal.entry_zone is not None:
        raise SignalParseError(
            f"a {signal.action.value} signal cannot carry a stop loss, take-profits or an entry "
            "zone; those belong to an entry",
            where.of("stop_loss" if signal.stop_loss is not None else "take_profits"),
        )
    return signal


def _check_values(signal: ParsedSignal, where: Positions) -> None:
    """What every grammar already ensures, checked again for a signal built elsewhere (the
    optional language-model fallback builds one from its JSON)."""
    if signal.symbol is not None and _SYMBOL.fullmatch(signal.symbol) is None:
        raise SignalParseError("the symbol must be BASE/QUOTE in upper case", where.of("symbol"))
    levels = [("price", signal.price), ("stop_loss", signal.stop_loss)]
    if signal.entry_zone is not None:
        levels += [("entry_zone", signal.entry_zone.low), ("entry_zone", signal.entry_zone.high)]
    levels += [("take_profits", step.price) for step in signal.take_profits]
    for name, value in levels:
        if value is not None and not _positive(value):
            raise SignalParseError(f"{name} must be a positive finite decimal", where.of(name))
    if signal.sent_at is not None and signal.sent_at.utcoffset() != timedelta(0):
        raise SignalParseError("sent_at must be in UTC", where.of("sent_at"))
    if signal.max_lag_seconds is not None and signal.max_lag_seconds <= 0:
        raise SignalParseError("max_lag must be positive", where.of("max_lag_seconds"))


def _positive(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value > 0


def _check_amount(signal: ParsedSignal, where: Positions) -> None:
    amount = signal.amount
    if amount is None:
        return
    if not _positive(amount.value):
        raise SignalParseError("the amount must be positive", where.of("amount"))
    if amount.unit is AmountUnit.PERCENT and amount.value > 100:
        raise SignalParseError("a percentage amount must be at most 100", where.of("amount"))


def _check_time(signal: ParsedSignal, where: Positions, now: datetime | None) -> None:
    if signal.sent_at is None or now is None:
        return
    if signal.sent_at - now > MAX_CLOCK_SKEW:
        raise SignalParseError(
            "the signal's time is more than 5 minutes in the future", where.of("sent_at")
        )


def _ordered_take_profits(
    steps: tuple[TakeProfit, ...], where: Positions
) -> tuple[TakeProfit, ...]:
    if len(steps) > MAX_TAKE_PROFITS:
        raise SignalParseError(
            f"at most {MAX_TAKE_PROFITS} take-profit steps", where.of("take_profits")
        )
    prices = [step.price for step in steps]
    if len(set(prices)) != len(prices):
        raise SignalParseError(
            "two take-profit steps have the same price", where.of("take_profits")
        )
    shares = [step.share_percent for step in steps if step.share_percent is not None]
    for share in shares:
        if not Decimal(0) < share <= Decimal(100):
            raise SignalParseError(
                "a take-profit share must be above 0 and at most 100 percent",
                where.of("take_profits"),
            )
    if sum(shares, Decimal(0)) > 100:
        raise SignalParseError(
            "the take-profit shares add up to more than 100 percent", where.of("take_profits")
        )
    # Senders list targets in any order (Cornix sorts them too); execution wants the nearest first.
    return tuple(sorted(steps, key=lambda step: step.price))


def _check_long_levels(signal: ParsedSignal, where: Positions) -> None:
    low, high = _entry_bounds(signal)
    stop = signal.stop_loss
    targets = [step.price for step in signal.take_profits]
    if stop is not None and low is not None and stop >= low:
        raise SignalParseError(
            f"the stop loss {stop} must be below the entry {low} of a long", where.of("stop_loss")
        )
    if targets and high is not None and targets[0] <= high:
        raise SignalParseError(
            f"take-profit {targets[0]} must be above the entry {high} of a long",
            where.of("take_profits"),
        )
    if stop is not None and targets and targets[0] <= stop:
        raise SignalParseError(
            f"take-profit {targets[0]} must be above the stop loss {stop}", where.of("take_profits")
        )


def _entry_bounds(signal: ParsedSignal) -> tuple[Decimal | None, Decimal | None]:
    if signal.entry_zone is not None:
        return signal.entry_zone.low, signal.entry_zone.high
    if signal.price is not None:
        return signal.price, signal.price
    return None, None
