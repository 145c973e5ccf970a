"""Handing queued signals to a signal bot, over arbitrary sequences of decisions: each signal
handed gets exactly one outcome (stale ones without reaching the strategy), in the order they
were queued, what answers none of them is the bot's own, and the stored state never keeps an
outcome (a live bot records each once)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.engine.signal_queue import DENIED, HALTED, hand_over, own_doings, take_outcomes
from autogrid.signals.deliveries import Queued
from autogrid.signals.outcomes import SignalOutcome
from autogrid.trading.orders import OrderStatus
from autogrid.trading.strategies.base import Snapshot
from autogrid.trading.strategies.signal_bot import STOP_REF, SignalBotConfig, SignalBotStrategy
from autogrid.trading.strategies.signal_bot_state import SignalOutcome as Answer
from tests.trading.strategies.test_signal_bot_properties import MARKET, T0, prices, signals

batches = st.lists(
    st.lists(st.tuples(signals, st.sampled_from([None, 60, 7200])), max_size=4),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(batches, prices, st.integers(0, 3600))
def test_every_handed_signal_gets_one_outcome_and_the_state_keeps_none(
    sequence: list[list[tuple[object, int | None]]], price: D, waited: int
) -> None:
    strategy = SignalBotStrategy(MARKET, SignalBotConfig(default_quote=D(100)))
    now = T0
    snapshot = Snapshot(now, MARKET, price, (), D(0), D(10_000))
    state = strategy.initial_state(snapshot)
    next_id = 1
    for batch in sequence:
        now += timedelta(seconds=waited)
        snapshot = Snapshot(now, MARKET, price, (), D(0), D(10_000))
        queued = []
        for parsed, lag in batch:
            queued.append(Queued(next_id, next_id, parsed, T0, lag))  # type: ignore[arg-type]
            next_id += 1
        handed = hand_over(strategy, state, queued, now)
        decision = strategy.decide(snapshot, handed.state, [])
        decision, settled, own = take_outcomes(strategy, decision, handed)

        assert sorted(item.signal_id for item in settled) == [q.signal_id for q in queued]
        for item in settled:
            late = (now - T0).total_seconds() > (lag_of(queued, item.signal_id) or 10**9)
            assert (item.outcome == SignalOutcome.STALE) == late
            assert item.outcome in (
                SignalOutcome.EXECUTED,
                SignalOutcome.REFUSED,
                SignalOutcome.STALE,
            )
            assert item.outcome == SignalOutcome.EXECUTED or item.reason
        # What answers no handed signal is the bot's own doing, journalled apart.
        assert not {o.ref for o in own} & {q.signal_id for q in queued}
        assert {o.action for o in own} <= {"stop_loss", "take_profit"}
        assert decision.state.outcomes == () and decision.state.queue == ()
        state = strategy.load_state(strategy.dump_state(decision.state))


def lag_of(queued: list[Queued], signal_id: int) -> int | None:
    return next(q.max_lag_seconds for q in queued if q.signal_id == signal_id)


def test_a_stop_loss_sale_the_decision_could_not_send_is_journalled_as_not_done() -> None:
    sale = Answer(STOP_REF, T0, "stop_loss", True, "sell 0.01 at market", ("S3",))
    cancelled = Answer(STOP_REF, T0, "stop_loss", True, "orders cancelled, nothing to sell")
    placed: dict[str | None, Any] = {"S3": SimpleNamespace(status=OrderStatus.NEW)}

    assert own_doings([sale, cancelled], placed, [], None) == [sale, cancelled]
    halted, kept = own_doings([sale, cancelled], placed, [], "order rate: 1 orders")
    assert (halted.accepted, halted.reason) == (False, f"{HALTED}: order rate: 1 orders")
    assert kept == cancelled  # cancels go out whatever the breaker says
    denied: dict[str | None, Any] = {"S3": SimpleNamespace(status=OrderStatus.DENIED)}
    (refused,) = own_doings([sale], denied, [], None)
    assert (refused.accepted, refused.reason) == (False, DENIED)
