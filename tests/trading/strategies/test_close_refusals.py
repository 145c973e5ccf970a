"""A smart trade's or a signal bot's close at market that keeps being refused before the book
(pre-trade risk, or the exchange: insufficient balance): it is placed again, never given up, but
with the DCA's back-off (``refusals.retry_delay``): at the next price, then 1, 2, 4, 8 and at most
16 minutes apart, so an hour of refusals leaves a handful of refused orders, not one per price.
Pure: the runtime is played by a loop deciding at every price (or only when woken), the state
stored and loaded at each decision as a restarted worker would."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.exchanges.types import OrderType, Side
from autogrid.signals.model import Amount, AmountUnit, ParsedSignal, SignalAction
from autogrid.trading.strategies.base import PlaceOrder
from autogrid.trading.strategies.refusals import RETRY_CAP, retry_delay
from autogrid.trading.strategies.signal_bot import SignalBotStrategy
from autogrid.trading.strategies.signal_bot_state import SignalBotState, TimedSignal
from autogrid.trading.strategies.smart_trade import SmartTradeStrategy
from autogrid.trading.strategies.smart_trade_config import SmartEntry, SmartTradeConfig
from autogrid.trading.strategies.smart_trade_state import Exit, SmartTradeState
from tests.trading.strategies.exchange_model import Account
from tests.trading.strategies.refusing_runtime import TICK, RefusingRuntime
from tests.trading.strategies.smart_trade_driver import MARKET, T0

HOUR = timedelta(hours=1)
# An hour of refusals: the first two at once, then 1, 2, 4, 8 and 16 minutes apart, then every
# 16 minutes. A few more are allowed for, never one per price (360 of them).
AN_HOURS_REFUSALS = 10


def close_all(at: datetime, ref: int) -> TimedSignal:
    return TimedSignal(at, ParsedSignal(action=SignalAction.CLOSE_ALL, format="test"), ref)


Runtime = RefusingRuntime
REFUSED_SALES = frozenset({Side.SELL})  # those at market only (AT_MARKET)
AT_MARKET = frozenset({OrderType.MARKET})


def smart_trade(only_when_woken: bool) -> Runtime:
    config = SmartTradeConfig(
        amount=Amount(D(100), AmountUnit.QUOTE), entry=SmartEntry(), stop_loss_price=D(95)
    )
    strategy = SmartTradeStrategy(config, MARKET)
    account = Account(MARKET, D(10_000))
    state = strategy.initial_state(account.snapshot(T0, D(100)))
    return Runtime(strategy, state, account, only_when_woken, refused_types=AT_MARKET)


def signal_bot(only_when_woken: bool) -> Runtime:
    strategy = SignalBotStrategy(MARKET)
    account = Account(MARKET, D(10_000), free_base=D(1))
    state = SignalBotState(amount=D(1), cost=D(100))
    return Runtime(strategy, state, account, only_when_woken, refused_types=AT_MARKET)


def assert_backed_off(attempts: list[tuple[datetime, PlaceOrder]]) -> None:
    """Each attempt waits at least the delay its refusals call for (and no decision more than
    one price past it, when it decides at every price), and says which attempt it is."""
    assert [a.attempt for _, a in attempts] == list(range(1, len(attempts) + 1))
    for k, ((before, _), (after, _)) in enumerate(pairwise(attempts), 1):
        assert after - before >= retry_delay(k)
        assert after - before <= retry_delay(k) + 2 * TICK


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_a_smart_trades_close_refused_for_an_hour_is_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    bot = smart_trade(only_when_woken)
    now = bot.run(T0, T0 + 2 * TICK, D(100))  # the market entry fills
    held = bot.account.base_total
    assert held > 0 and bot.state.exit is None

    bot.refusing = REFUSED_SALES  # the owner's daily loss limit, say: every sale refused an hour
    now = bot.run(now, now + HOUR, D(94))  # below the stop
    assert 2 <= len(bot.refused) <= AN_HOURS_REFUSALS
    assert all(a.tag.startswith("X") and a.amount == held for _, a in bot.refused)
    assert_backed_off(bot.refused)
    state: SmartTradeState = bot.state
    assert state.exit is Exit.STOP_LOSS and not state.done and bot.account.base_total == held
    assert state.refusals == len(bot.refused) and state.retry_at is not None

    bot.refusing = frozenset()  # the limit allows it again: sold at the end of the back-off
    bot.run(now, now + RETRY_CAP + 2 * TICK, D(94))
    [(_, sale)] = [(t, a) for t, a in bot.placed if a.side is Side.SELL]
    assert sale.attempt == len(bot.refused) + 1
    state = bot.state
    assert state.done and bot.account.base_total == 0
    assert state.refusals == 0 and state.retry_at is None  # the fill ended the back-off


def test_a_smart_trade_backing_off_sleeps_until_its_retry_time() -> None:
    """While it waits it asks to be woken at the retry time, not at every price, and it neither
    ends the trade holding the position nor sells before then."""
    bot = smart_trade(only_when_woken=True)
    now = bot.run(T0, T0 + 2 * TICK, D(100))
    bot.refusing = REFUSED_SALES
    now = bot.run(now, now + 3 * TICK, D(94))  # placed, refused, placed again, refused
    assert len(bot.refused) == 2
    wake = bot.wake
    assert wake is not None and not wake.every_candle
    assert wake.at == bot.state.retry_at and wake.at > now
    decided = bot.decided
    bot.run(now, wake.at, D(94))
    assert bot.decided == decided and not bot.state.done


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_a_signal_bots_close_refused_for_an_hour_is_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    bot = signal_bot(only_when_woken)
    bot.state = bot.strategy.enqueue(bot.state, [close_all(T0, 1)])
    bot.refusing = REFUSED_SALES
    now = bot.run(T0, T0 + HOUR, D(100))
    assert 2 <= len(bot.refused) <= AN_HOURS_REFUSALS
    assert all(a.amount == D(1) for _, a in bot.refused)
    assert_backed_off(bot.refused)
    state: SignalBotState = bot.state
    assert state.closing and state.amount == D(1) and state.refusals == len(bot.refused)

    bot.refusing = frozenset()
    bot.run(now, now + RETRY_CAP + 2 * TICK, D(100))
    [(_, sale)] = bot.placed
    assert sale.attempt == len(bot.refused) + 1
    state = bot.state
    assert state.amount == 0 and bot.account.base_total == 0
    assert state.refusals == 0 and state.retry_at is None
    assert bot.wake is not None and not bot.wake.every_candle and bot.wake.at is None


def test_a_signal_bots_new_close_while_backing_off_is_placed_at_once() -> None:
    """A close the owner sends again is a new command: carried out at its decision, whatever
    the back-off of the one before (told to the owner as a first attempt)."""
    bot = signal_bot(only_when_woken=True)
    bot.state = bot.strategy.enqueue(bot.state, [close_all(T0, 1)])
    bot.refusing = REFUSED_SALES
    now = bot.run(T0, T0 + 3 * TICK, D(100))
    assert len(bot.refused) == 2 and bot.state.retry_at > now
    bot.state = bot.strategy.enqueue(bot.state, [close_all(now, 2)])
    bot.refusing = frozenset()
    bot.step(now, D(100))
    [(at, sale)] = bot.placed
    assert at == now and sale.attempt == 1
    bot.step(now + TICK, D(100))
    assert bot.state.amount == 0 and bot.state.refusals == 0


def test_a_signal_bots_retries_are_not_told_as_new_doings() -> None:
    """Only the close the signal asked for is answered; its attempts again after refusals are
    not each an outcome (the runtime would journal every one to the owner)."""
    bot = signal_bot(only_when_woken=False)
    bot.state = bot.strategy.enqueue(bot.state, [close_all(T0, 1)])
    bot.refusing = REFUSED_SALES
    outcomes = []
    now = T0
    while now < T0 + HOUR:
        bot.step(now, D(100))
        taken, bot.state = bot.strategy.take_outcomes(bot.state)
        outcomes += taken
        now += TICK
    assert len(bot.refused) >= 2
    assert [o.ref for o in outcomes] == [1]


def test_states_stored_before_the_back_off_still_load() -> None:
    smart = SmartTradeState(started_at=T0, seq=2, exit=Exit.STOP_LOSS).to_dict()
    signal = SignalBotState(amount=D(1), closing=True).to_dict()
    for stored in (smart, signal):
        del stored["refusals"], stored["retry_at"]
    assert SmartTradeState.from_dict(smart).refusals == 0
    assert SmartTradeState.from_dict(smart).retry_at is None
    assert SignalBotState.from_dict(signal).refusals == 0
    assert SignalBotState.from_dict(signal).retry_at is None
    backing_off = SmartTradeState(refusals=3, retry_at=T0 + timedelta(minutes=2))
    assert SmartTradeState.from_dict(backing_off.to_dict()) == backing_off
    waiting = SignalBotState(refusals=3, retry_at=T0 + timedelta(minutes=2))
    assert SignalBotState.from_dict(waiting.to_dict()) == waiting


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=60),
    st.lists(st.integers(1, 120), min_size=1, max_size=60),
    st.booleans(),
)
def test_any_refusals_at_any_times_are_spaced_by_the_back_off(
    refusals: list[bool], gaps: list[int], smart: bool
) -> None:
    """Whatever refusals come and go, at whatever pace the prices come: never two attempts in
    one retry window, an attempt's number counts the refusals before it, and a sale that
    reaches the book ends the back-off (the position sold)."""
    bot = smart_trade(only_when_woken=True) if smart else signal_bot(only_when_woken=True)
    now = T0
    if smart:
        now = bot.run(T0, T0 + 2 * TICK, D(100))
        price = D(94)
    else:
        bot.state = bot.strategy.enqueue(bot.state, [close_all(T0, 1)])
        price = D(100)
    held = bot.account.base_total
    for i, refusing in enumerate(refusals):
        bot.refusing = REFUSED_SALES if refusing else frozenset()
        bot.step(now, price)
        now += timedelta(seconds=gaps[i % len(gaps)])
    attempts = sorted([*bot.refused, *bot.placed], key=lambda item: item[0])
    sales = [(t, a) for t, a in attempts if a.side is Side.SELL]
    for run_of_refusals, ((before, _), (after, action)) in enumerate(pairwise(sales), 1):
        assert action.attempt == run_of_refusals + 1
        assert after - before >= retry_delay(run_of_refusals)
    sold = [a for _, a in bot.placed if a.side is Side.SELL]
    assert len(sold) <= 1  # a sale that reached the book sold everything: none after it
    if sold:
        assert bot.account.base_total == 0 and sold[0].amount == held
        bot.refusing = frozenset()
        bot.step(now, price)  # the sale's fill seen
        assert bot.state.refusals == 0 and bot.state.retry_at is None
