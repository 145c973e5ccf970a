"""Resting orders the exchange keeps rejecting (a take-profit under a price filter, say): the
strategy places them again, never gives up, but with the back-off of refused market orders
(``refusals.retry_delay``): at the next price, then 1, 2, 4, 8 and at most 16 minutes apart.
They were once sent again at every tick, as long as the rejections went on (an exchange bans
an account for that), and a take-profit rejected beside one that rested was never placed again.
Pure: the runtime decides at every price or only when woken (and always right after an order
went away, as the engine does when a bot's live orders change)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal as D
from itertools import groupby, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.exchanges.types import OrderType, Side
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    ParsedSignal,
    SignalAction,
    TakeProfit,
)
from autogrid.trading.strategies.base import PlaceOrder
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_state import DcaState
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import GridConfig
from autogrid.trading.strategies.grid_state import GridState
from autogrid.trading.strategies.refusals import RETRY_CAP, retry_delay
from autogrid.trading.strategies.signal_bot import SignalBotStrategy
from autogrid.trading.strategies.signal_bot_state import SignalBotState, TimedSignal
from autogrid.trading.strategies.smart_trade import SmartTradeStrategy
from autogrid.trading.strategies.smart_trade_config import SmartEntry, SmartTradeConfig
from autogrid.trading.strategies.smart_trade_state import Exit, SmartTradeState
from tests.trading.strategies.exchange_model import Account
from tests.trading.strategies.refusing_runtime import TICK, RefusingRuntime
from tests.trading.strategies.smart_trade_driver import MARKET, T0
from tests.trading.strategies.test_dca_refusals import CONFIG as REFUSALS_CONFIG

HOUR = timedelta(hours=1)
AN_HOURS_REFUSALS = 10  # as for refused closes: a handful, never one per price (360)
LIMIT_SELLS = frozenset({Side.SELL})
LIMITS = frozenset({OrderType.LIMIT})
STEPS = (TakeProfit(D(110), D(50)), TakeProfit(D(120), D(50)))


def smart_trade(only_when_woken: bool) -> RefusingRuntime:
    config = SmartTradeConfig(
        amount=Amount(D(100), AmountUnit.QUOTE),
        entry=SmartEntry(),
        take_profits=STEPS,
        stop_loss_price=D(90),
    )
    strategy = SmartTradeStrategy(config, MARKET)
    account = Account(MARKET, D(10_000))
    state = strategy.initial_state(account.snapshot(T0, D(100)))
    return RefusingRuntime(
        strategy, state, account, only_when_woken, refused_types=LIMITS, after_sending=True
    )


def rounds(attempts: list[tuple[datetime, PlaceOrder]]) -> list[tuple[datetime, int]]:
    """The take-profits placed, a round per decision: its time and attempt number."""
    ordered = sorted(attempts, key=lambda item: item[0])
    return [
        (at, next(iter(group))[1].attempt)
        for at, group in groupby(ordered, key=lambda item: item[0])
    ]


def assert_backed_off(attempts: list[tuple[datetime, PlaceOrder]]) -> None:
    placed = rounds(attempts)
    assert [attempt for _, attempt in placed] == list(range(1, len(placed) + 1))
    for k, ((before, _), (after, _)) in enumerate(pairwise(placed), 1):
        assert after - before >= retry_delay(k)
        assert after - before <= retry_delay(k) + 2 * TICK


def limit_price(price: D | None) -> D:
    """A limit order's price (only a market order has none)."""
    assert price is not None
    return price


def resting_targets(bot: RefusingRuntime) -> dict[str, D]:
    return {
        tag: order.amount
        for tag, order in bot.account.orders.items()
        if tag.startswith("T") and order.side is Side.SELL
    }


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_take_profits_rejected_for_an_hour_are_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    bot = smart_trade(only_when_woken)
    bot.refusing = LIMIT_SELLS
    now = bot.run(T0, T0 + HOUR, D(100))  # bought at once; its take-profits rejected an hour
    held = bot.account.base_total
    assert held > 0 and not resting_targets(bot)
    assert 2 <= len(rounds(bot.refused)) <= AN_HOURS_REFUSALS
    assert all(len(list(g)) == 2 for _, g in groupby(bot.refused, key=lambda item: item[0]))
    assert_backed_off(bot.refused)
    state: SmartTradeState = bot.state
    assert state.targets_backoff.refusals == len(rounds(bot.refused)) and not state.done

    bot.refusing = frozenset()  # taken again: placed at the end of the back-off, and rest
    now = bot.run(now, now + RETRY_CAP + 2 * TICK, D(100))
    assert sum(resting_targets(bot).values()) == held
    [(_, attempt)] = rounds([(t, a) for t, a in bot.placed if a.tag.startswith("T")])
    assert attempt == len(rounds(bot.refused)) + 1
    bot.run(now, now + 2 * TICK, D(125))  # both steps sell: the trade is over
    assert bot.state.done and bot.state.exit is Exit.TAKE_PROFIT
    assert bot.state.targets_backoff.refusals == 0


def test_a_take_profit_rejected_beside_one_that_rests_is_placed_again() -> None:
    """Only the first step's price is refused (a filter on prices far from the market, say):
    the second rests, the first is placed again with it once the back-off allows. Before, the
    resting one hid the missing one for good."""
    bot = smart_trade(only_when_woken=True)
    bot.refusing = LIMIT_SELLS
    bot.refuse_only = lambda action: action.price == D(110)
    now = bot.run(T0, T0 + 4 * TICK, D(100))
    assert [a.price for _, a in bot.refused] == [D(110)] * 2
    assert not resting_targets(bot)  # the second's cancelled: the steps go again together
    bot.refusing = frozenset()
    bot.run(now, now + RETRY_FIRST_AND_TICKS, D(100))
    assert sorted(limit_price(bot.account.orders[tag].price) for tag in resting_targets(bot)) == [
        D(110),
        D(120),
    ]
    assert sum(resting_targets(bot).values()) == bot.account.base_total


RETRY_FIRST_AND_TICKS = retry_delay(2) + 2 * TICK


def test_the_stop_still_closes_a_trade_whose_take_profits_wait() -> None:
    bot = smart_trade(only_when_woken=True)
    bot.refusing = LIMIT_SELLS
    now = bot.run(T0, T0 + 4 * TICK, D(100))
    assert bot.state.targets_backoff.waiting(now)
    bot.run(now, now + 2 * TICK, D(89))  # below the stop: sold at market
    assert bot.state.done and bot.state.exit is Exit.STOP_LOSS and bot.account.base_total == 0


def test_states_stored_before_the_take_profits_back_off_still_load() -> None:
    stored = SmartTradeState(started_at=T0, seq=3).to_dict()
    del stored["targets_backoff"]
    assert SmartTradeState.from_dict(stored).targets_backoff.refusals == 0
    backing_off = SmartTradeState(started_at=T0, seq=3).evolve(
        targets_backoff=SmartTradeState().targets_backoff.refused(T0).refused(T0)
    )
    assert SmartTradeState.from_dict(backing_off.to_dict()) == backing_off


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=60),
    st.lists(st.integers(1, 300), min_size=1, max_size=60),
)
def test_any_rejections_at_any_times_are_spaced_and_leave_no_step_unplaced(
    rejecting: list[bool], gaps: list[int]
) -> None:
    """Whatever rejections come and go, at whatever pace the prices come: never two rounds in
    one retry window, each round's attempt counts the rejections before it, and once the
    exchange takes them again the position's take-profits rest, all of it covered."""
    bot = smart_trade(only_when_woken=True)
    now = T0
    for i, refusing in enumerate(rejecting):
        bot.refusing = LIMIT_SELLS if refusing else frozenset()
        bot.step(now, D(100))
        now += timedelta(seconds=gaps[i % len(gaps)])
    tries = rounds([(t, a) for t, a in [*bot.refused, *bot.placed] if a.tag.startswith("T")])
    for (before, _), (after, attempt) in pairwise(tries):
        streak = attempt - 1
        if streak:  # a retry after ``streak`` rejections in a row
            assert after - before >= retry_delay(streak)
    bot.refusing = frozenset()
    bot.run(now, now + RETRY_CAP + 2 * TICK, D(100))
    assert sum(resting_targets(bot).values()) == bot.account.base_total > 0


# --- DCA ---------------------------------------------------------------------------------------
DCA = replace(REFUSALS_CONFIG, stop_loss_percentage=D(5))  # far: the take profit's tests


def dca(only_when_woken: bool) -> RefusingRuntime:
    strategy = DcaStrategy(DCA, MARKET)
    account = Account(MARKET, D(10_000))
    return RefusingRuntime(
        strategy, DcaState(), account, only_when_woken, refused_types=LIMITS, after_sending=True
    )


def take_profits(attempts: list[tuple[datetime, PlaceOrder]]) -> list[tuple[datetime, PlaceOrder]]:
    return [(at, action) for at, action in attempts if ".TP" in action.tag]


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_a_dca_take_profit_rejected_for_an_hour_is_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    bot = dca(only_when_woken)
    bot.refusing = LIMIT_SELLS
    now = bot.run(T0, T0 + HOUR, D(100))  # the deal opens; its take profit rejected an hour
    rejected = take_profits(bot.refused)
    assert 2 <= len(rejected) <= AN_HOURS_REFUSALS
    assert_backed_off(rejected)
    state: DcaState = bot.state
    assert state.phase == "in_deal" and state.tp_live is None
    assert state.tp_refusals == len(rejected)

    bot.refusing = frozenset()  # taken again: placed once the back-off is over, for all held
    now = bot.run(now, now + RETRY_CAP + 2 * TICK, D(100))
    [(_, placed)] = take_profits(bot.placed)
    assert placed.attempt == len(rejected) + 1
    assert bot.state.tp_live == placed.tag and placed.amount == bot.account.base_total
    bot.run(now, now + 2 * TICK, D(102))  # it sells: the deal is closed, the back-off over
    [deal] = bot.state.deals
    assert deal.close_reason == "take_profit" and deal.amount == placed.amount
    assert bot.state.tp_refusals == 0 and bot.state.tp_retry_at is None  # the next deal's


def test_a_dca_safety_fill_places_the_waiting_take_profit_at_once() -> None:
    """A buy changes the take profit (price and amount): it goes at that decision, whatever
    the back-off of the one before."""
    bot = dca(only_when_woken=True)
    bot.refusing = LIMIT_SELLS
    now = bot.run(T0, T0 + 4 * TICK, D(100))
    assert bot.state.tp_live is None and bot.state.tp_retry_at > now
    bot.refusing = frozenset()
    bot.run(now, now + 2 * TICK, D(97))  # the safety order (at 98) fills
    assert bot.state.safety_filled == 1
    [(at, placed)] = take_profits(bot.placed)
    assert at < bot.state.tp_retry_at or bot.state.tp_retry_at is None
    assert placed.amount == bot.account.base_total


def test_dca_states_stored_before_the_take_profits_back_off_still_load() -> None:
    stored = DcaState(phase="in_deal", deal=1).to_dict()
    del stored["tp_refusals"], stored["tp_retry_at"]
    loaded = DcaState.from_dict(stored)
    assert loaded.tp_refusals == 0 and loaded.tp_retry_at is None
    waiting = DcaState(phase="in_deal", deal=1, tp_refusals=2, tp_retry_at=T0 + HOUR)
    assert DcaState.from_dict(waiting.to_dict()) == waiting


# --- grid --------------------------------------------------------------------------------------
def grid_bot(only_when_woken: bool) -> RefusingRuntime:
    config = GridConfig(lower_price=D(100), upper_price=D(200), grid_count=10, investment=D(1000))
    strategy = GridStrategy(config, MARKET)
    account = Account(MARKET, D(10_000))
    state = strategy.initial_state(account.snapshot(T0, D(153)))
    return RefusingRuntime(
        strategy, state, account, only_when_woken, refused_types=LIMITS, after_sending=True
    )


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_a_grid_sell_rejected_for_an_hour_is_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    """The buy at 140 fills; the exchange rejects its sell one level up for an hour: placed
    again at the next price, then 1, 2, 4, 8 and 16 minutes apart, then it rests for all the
    level holds. It was once sent again at every tick."""
    bot = grid_bot(only_when_woken)
    now = bot.run(T0, T0 + 2 * TICK, D(153))  # the ladder's buys rest below
    bot.refusing = LIMIT_SELLS
    now = bot.run(now, now + HOUR, D(140))  # B4 fills; S5 rejected an hour
    rejected = [(at, a) for at, a in bot.refused if a.tag == "S5"]
    assert [a.tag for _, a in bot.refused] == ["S5"] * len(rejected)
    assert 2 <= len(rejected) <= AN_HOURS_REFUSALS
    assert_backed_off(rejected)
    state: GridState = bot.state
    assert state.unplaced == {5} and state.backoff.refusals == len(rejected)

    bot.refusing = frozenset()
    now = bot.run(now, now + RETRY_CAP + 2 * TICK, D(140))
    [(_, sell)] = [(at, a) for at, a in bot.placed if a.tag == "S5"]
    assert sell.attempt == len(rejected) + 1 and sell.amount == bot.state.lots[5].amount
    assert not bot.state.unplaced
    bot.run(now, now + 2 * TICK, D(151))  # it sells: a round trip, the buy below again
    assert bot.state.round_trips == 1 and "B4" in bot.account.orders


def test_a_grid_sell_rejected_long_after_the_last_starts_a_new_episode() -> None:
    """A resting sell's acceptance is never reported: refusals long past (the retry time plus
    the cap, quiet since) do not make a new one wait."""
    bot = grid_bot(only_when_woken=True)
    now = bot.run(T0, T0 + 2 * TICK, D(153))
    bot.refusing = LIMIT_SELLS
    now = bot.run(now, now + 10 * TICK, D(140))
    assert bot.state.backoff.refusals >= 2
    bot.refusing = frozenset()
    now = bot.run(now, now + RETRY_CAP + 2 * TICK, D(140))  # placed again, and rests
    now += 2 * RETRY_CAP  # a day of quiet, say
    bot.account.cancel("S5")  # someone cancels it on the exchange
    bot.changed = True  # the runtime sees its live orders changed
    bot.step(now, D(140))
    [(at, again)] = [(t, a) for t, a in bot.placed if a.tag == "S5"][-1:]
    assert at == now and again.attempt == 2  # at once: the first refusal of a new episode


LIMIT_BUYS = frozenset({Side.BUY})


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_grid_buys_rejected_for_an_hour_are_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    """The exchange rejects the ladder's buys (a balance spent elsewhere, say) for an hour: they
    go again together, at the next price, then 1, 2, 4, 8 and 16 minutes apart, then rest and
    buy the dip. They were once never placed again: a ladder that no longer bought at all."""
    bot = grid_bot(only_when_woken)
    bot.refusing = LIMIT_BUYS
    now = bot.run(T0, T0 + HOUR, D(153))
    levels = {f"B{level}" for level in range(5)}
    assert set(bot.refused_tags) == levels
    assert 2 * len(levels) <= len(bot.refused) <= AN_HOURS_REFUSALS * len(levels)
    assert_backed_off(bot.refused)
    state: GridState = bot.state
    assert set(state.unplaced_buys) == set(range(5)) and not state.live

    bot.refusing = frozenset()
    now = bot.run(now, now + RETRY_CAP + 2 * TICK, D(153))
    again = [a for _, a in bot.placed if a.tag.startswith("B")]
    assert sorted(a.tag for a in again) == sorted(levels)
    amounts = {a.tag: a.amount for a in again}
    assert amounts == {f"B{i}": bot.strategy.ladder.amount_for(i) for i in range(5)}
    assert not bot.state.unplaced_buys
    bot.run(now, now + 2 * TICK, D(140))  # the dip: B4 buys, its sell rests one level up
    assert "S5" in bot.account.orders and bot.state.lots[5].amount == amounts["B4"]


def test_a_grid_buy_cancelled_by_someone_else_is_placed_again_for_what_it_had_left() -> None:
    """Someone cancels a resting buy that had bought part of its amount: what it bought is
    offered one level up, the rest is bought again at its level, once."""
    bot = grid_bot(only_when_woken=True)
    now = bot.run(T0, T0 + 2 * TICK, D(153))
    whole = bot.account.orders["B4"].amount
    bot.account.fill("B4", D("0.25"), now)
    bot.account.cancel("B4")
    bot.changed = True
    bot.step(now, D(141))
    [(_, rest)] = [(t, a) for t, a in bot.placed if a.tag == "B4"][1:]
    assert rest.amount == whole - D("0.25") and rest.attempt == 2
    assert bot.account.orders["S5"].amount == D("0.25")
    bot.run(now + TICK, now + RETRY_CAP, D(141))  # it rests: nothing more is placed
    assert [a.tag for _, a in bot.placed].count("B4") == 2


def test_a_waiting_grid_buy_moves_up_with_a_trailing_ladder() -> None:
    """The ladder trails up while its lowest buy waits to be placed again: the quote that buy
    holds moves to the new top level, as a resting buy's does, and is placed there when the
    back-off allows, never at the level the ladder left."""
    config = GridConfig(
        lower_price=D(100),
        upper_price=D(200),
        grid_count=10,
        investment=D(1000),
        trailing_up=True,
    )
    strategy = GridStrategy(config, MARKET)
    account = Account(MARKET, D(10_000))
    state = strategy.initial_state(account.snapshot(T0, D(153)))
    bot = RefusingRuntime(
        strategy,
        state,
        account,
        only_when_woken=False,
        refused_types=LIMITS,
        refuse_only=lambda order: order.tag == "B0",
        after_sending=True,
    )
    bot.refusing = LIMIT_BUYS
    now = bot.run(T0, T0 + 4 * TICK, D(153))  # refused twice: it waits a minute
    assert bot.state.unplaced_buys.keys() == {0} and bot.state.backoff.waiting(now)
    quote = bot.state.unplaced_buys[0] * strategy.ladder.price_at(0)
    bot.refusing = frozenset()
    now = bot.run(now, now + RETRY_CAP, D(215))  # past the top: the ladder shifts up one level
    top = bot.state.offset + config.grid_count - 1
    assert bot.state.offset == 1
    moved = [a for _, a in bot.placed if a.tag == f"B{top}"]
    assert [a.tag for _, a in bot.placed if a.tag == "B0"] == []
    assert len(moved) == 1 and moved[0].amount * limit_price(moved[0].price) <= quote
    assert moved[0].amount * limit_price(moved[0].price) > quote * D("0.99")


def test_grid_states_stored_before_the_back_off_still_load() -> None:
    stored = GridState(phase="running").to_dict()
    del stored["unplaced"], stored["unplaced_buys"], stored["backoff"]
    loaded = GridState.from_dict(stored)
    assert loaded.unplaced == frozenset() and loaded.backoff.refusals == 0
    assert loaded.unplaced_buys == {}
    waiting = GridState(
        phase="running", unplaced=frozenset({3, 5}), unplaced_buys={2: D("0.125")}
    ).to_dict()
    assert GridState.from_dict(waiting).unplaced == {3, 5}
    assert GridState.from_dict(waiting).unplaced_buys == {2: D("0.125")}


# --- signal bot --------------------------------------------------------------------------------
def signal_bot_buying() -> RefusingRuntime:
    """A signal bot told to buy 100 USDT at market with two take-profit steps."""
    strategy = SignalBotStrategy(MARKET)
    account = Account(MARKET, D(10_000))
    buy = ParsedSignal(
        action=SignalAction.BUY,
        format="test",
        amount=Amount(D(100), AmountUnit.QUOTE),
        take_profits=STEPS,
    )
    state = strategy.enqueue(SignalBotState(), [TimedSignal(T0, buy, 1)])
    return RefusingRuntime(strategy, state, account, True, refused_types=LIMITS, after_sending=True)


def test_a_signal_bots_take_profits_rejected_are_placed_again_with_a_back_off() -> None:
    """They were once never placed again (the position left without them until the next buy
    or sell); now again and again, spaced by the back-off, and they rest once taken."""
    bot = signal_bot_buying()
    bot.refusing = LIMIT_SELLS
    now = bot.run(T0, T0 + HOUR, D(100))
    held = bot.account.base_total
    assert held > 0 and not resting_targets(bot)
    assert 2 <= len(rounds(bot.refused)) <= AN_HOURS_REFUSALS
    assert_backed_off(bot.refused)
    state: SignalBotState = bot.state
    assert state.targets_unplaced and state.targets_backoff.refusals == len(rounds(bot.refused))

    bot.refusing = frozenset()
    now = bot.run(now, now + RETRY_CAP + 2 * TICK, D(100))
    assert sum(resting_targets(bot).values()) == held
    assert not bot.state.targets_unplaced
    bot.run(now, now + 2 * TICK, D(125))  # both steps sell
    assert bot.account.base_total == 0 and bot.state.targets_backoff.refusals == 0


def test_signal_bot_states_stored_before_the_take_profits_back_off_still_load() -> None:
    stored = SignalBotState(amount=D(1)).to_dict()
    del stored["targets_unplaced"], stored["targets_backoff"]
    loaded = SignalBotState.from_dict(stored)
    assert not loaded.targets_unplaced and loaded.targets_backoff.refusals == 0
    waiting = SignalBotState(amount=D(1), targets_unplaced=True).evolve(
        targets_backoff=loaded.targets_backoff.refused(T0).refused(T0)
    )
    assert SignalBotState.from_dict(waiting.to_dict()) == waiting
