"""Replaying a stored list of signals against candles: test a signal source before funding it.

Each signal (a body the grammar parses, or an already parsed signal) is delivered at the first
candle whose open is at or after its time: the signal bot decides at the close of the candle
before (the engine's decision times are closes), so a market order fills at that candle's open by
the engine's own fill code, and a limit rests from there. Signals two candles share are acted on
together, in list order. A signal at or before the first candle's open, or after the last
candle's open, has no candle to act on: it is reported (``before_start`` / ``after_end``), not
replayed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from autogrid.backtest.engine import BacktestRun, BacktestSettings, run_backtest
from autogrid.exchanges.types import MarketRules
from autogrid.signals.grammar import parse_signal
from autogrid.signals.model import ParsedSignal, SignalParseError
from autogrid.trading.candles import CandleArrays
from autogrid.trading.strategies.signal_bot import SignalBotConfig, SignalBotStrategy
from autogrid.trading.strategies.signal_bot_state import SignalOutcome, TimedSignal


@dataclass(frozen=True, slots=True)
class ReplaySignal:
    at: datetime  # timezone-aware
    body: str | ParsedSignal


class SignalListError(ValueError):
    """Signal ``index`` of the list cannot be replayed; ``position`` is the grammar's offset."""

    def __init__(self, index: int, message: str, position: int = 0) -> None:
        super().__init__(f"signal {index}: {message} (at character {position})")
        self.index = index
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class ReplayResult:
    run: BacktestRun
    # ref = the signal's index in the list (-1: the bot's own); signals outside the data first
    outcomes: tuple[SignalOutcome, ...]
    delivered: dict[int, int]  # signal index -> candle index it acted on (its fill candle)
    before_start: tuple[int, ...]  # indexes of signals before the data
    after_end: tuple[int, ...]  # indexes of signals after it
    realized_pnl: Decimal
    final_equity: Decimal  # quote plus base at the last close


def parse_signal_list(items: Sequence[ReplaySignal], symbol: str) -> list[TimedSignal]:
    """The list as timed signals (ref = index); raises ``SignalListError`` at the first fault."""
    parsed: list[TimedSignal] = []
    for index, item in enumerate(items):
        if item.at.tzinfo is None:
            raise SignalListError(index, "the time must carry a timezone")
        signal = item.body
        if isinstance(signal, str):
            try:
                signal = parse_signal(signal, default_symbol=symbol)
            except SignalParseError as error:
                raise SignalListError(index, error.message, error.position) from None
        parsed.append(TimedSignal(item.at.astimezone(UTC), signal, index))
    return parsed


def replay_signals(
    items: Sequence[ReplaySignal],
    candles: CandleArrays,
    settings: BacktestSettings,
    config: SignalBotConfig | None = None,
) -> ReplayResult:
    """Run the signal bot over ``candles`` with ``items`` as its signals."""
    signals = parse_signal_list(items, settings.market.symbol)
    strategy, delivered, before, after = replay_strategy(
        signals, candles, settings.market, settings.timeframe_ms, config
    )
    run = run_backtest(strategy, candles, settings)
    state = strategy.load_state(run.strategy_state)
    last_close = Decimal(repr(float(candles.close[-1])))
    return ReplayResult(
        run=run,
        outcomes=state.outcomes,
        delivered=delivered,
        before_start=tuple(before),
        after_end=tuple(after),
        realized_pnl=state.realized_pnl,
        final_equity=run.final_quote + run.final_base * last_close,
    )


def signal_bot_from_config(
    config: Mapping[str, Any],
    market: MarketRules,
    candles: CandleArrays | None = None,
    timeframe_ms: int = 0,
) -> SignalBotStrategy:
    """The bot of a stored signal-list config (``signal_schemas.SignalReplayParams`` as JSON).

    With ``candles``, scheduled on them as ``replay_signals`` does; without, each signal waits
    for the first decision at or after its time (what a submission's check needs). Raises
    ``SignalListError`` for a body the grammar refuses, ``StrategyConfigError`` for sizing.
    """
    items = [
        ReplaySignal(datetime.fromisoformat(item["at"]), item["body"]) for item in config["signals"]
    ]
    quote = config.get("default_quote")
    bot = SignalBotConfig(
        default_quote=None if quote is None else Decimal(str(quote)),
        default_pct=Decimal(str(config.get("default_pct", 10))),
        zone_orders=int(config.get("zone_orders", 3)),
    )
    signals = parse_signal_list(items, market.symbol)
    if candles is None:
        return SignalBotStrategy(market, bot, tuple(signals))
    return replay_strategy(signals, candles, market, timeframe_ms, bot)[0]


def replay_strategy(
    signals: Sequence[TimedSignal],
    candles: CandleArrays,
    market: MarketRules,
    timeframe_ms: int,
    config: SignalBotConfig | None = None,
) -> tuple[SignalBotStrategy, dict[int, int], list[int], list[int]]:
    """The signal bot with ``signals`` scheduled on ``candles``; signals outside them are
    answered as refused in its outcomes (and listed: before the data, after it)."""
    schedule, delivered, before, after = _schedule(signals, candles, timeframe_ms)
    skipped = []
    for signal in signals:
        if signal.ref in delivered:
            continue
        where = "before the first" if signal.ref in before else "after the last"
        reason = f"arrived {where} candle of the data: not replayed"
        skipped.append(
            SignalOutcome(signal.ref, signal.at, signal.signal.action.value, False, reason)
        )
    strategy = SignalBotStrategy(
        market, config or SignalBotConfig(), tuple(schedule), tuple(skipped)
    )
    return strategy, delivered, before, after


def _schedule(
    signals: Sequence[TimedSignal], candles: CandleArrays, timeframe_ms: int
) -> tuple[list[TimedSignal], dict[int, int], list[int], list[int]]:
    """Each signal moved to the close of the candle before its delivery candle."""
    schedule: list[TimedSignal] = []
    delivered: dict[int, int] = {}
    before: list[int] = []
    after: list[int] = []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for signal in signals:
        at_ms = (signal.at - epoch) // timedelta(milliseconds=1)
        # First open at or after the time (a time with sub-millisecond parts rounds up).
        exact = signal.at == epoch + timedelta(milliseconds=at_ms)
        wanted = at_ms if exact else at_ms + 1
        candle = int(np.searchsorted(candles.ts_ms, wanted, side="left"))
        if candle == 0:
            before.append(signal.ref)
            continue
        if candle >= len(candles):
            after.append(signal.ref)
            continue
        decide_ms = int(candles.ts_ms[candle - 1]) + timeframe_ms
        decide_at = datetime.fromtimestamp(decide_ms / 1000, UTC)
        schedule.append(TimedSignal(decide_at, signal.signal, signal.ref))
        delivered[signal.ref] = candle
    return schedule, delivered, before, after


def signal_outcomes(strategy_state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What became of each signal, from the bot's dumped state, as stored with the results."""
    return [
        {
            "signal": ref,
            "decided_at": at,
            "action": action,
            "accepted": accepted,
            "reason": reason,
            "orders": tags,
        }
        for ref, at, action, accepted, reason, tags in strategy_state.get("outcomes", [])
    ]
