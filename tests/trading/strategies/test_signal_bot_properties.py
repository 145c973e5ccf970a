"""The signal bot on arbitrary signals: it never raises, never sells more than it holds, never
spends more than the free quote, and its take-profits never cover more than the position."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.backtest.engine import BacktestSettings
from autogrid.backtest.signal_replay import ReplaySignal, replay_signals
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    EntryZone,
    OrderKind,
    ParsedSignal,
    SignalAction,
    TakeProfit,
)
from autogrid.trading.candles import arrays_from_rows
from autogrid.trading.strategies.base import (
    CancelOrder,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StrategyFill,
)
from autogrid.trading.strategies.signal_bot import SignalBotConfig, SignalBotStrategy
from autogrid.trading.strategies.signal_bot_state import SignalBotState, TimedSignal
from tests.shared_data import load_csv_rows

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
T0 = datetime(2026, 1, 1, tzinfo=UTC)

prices = st.decimals(D("100"), D("100000"), places=2, allow_nan=False, allow_infinity=False)
amounts = st.one_of(
    st.none(),
    st.builds(Amount, st.decimals(D("0.00001"), D("5"), places=5), st.just(AmountUnit.BASE)),
    st.builds(Amount, st.decimals(D("1"), D("50000"), places=2), st.just(AmountUnit.QUOTE)),
    st.builds(Amount, st.decimals(D("0.1"), D("100"), places=1), st.just(AmountUnit.PERCENT)),
)
zones = st.one_of(st.none(), st.tuples(prices, prices).map(lambda p: EntryZone(min(p), max(p))))
take_profits = st.lists(
    st.builds(TakeProfit, prices, st.one_of(st.none(), st.decimals(D(1), D(100), places=0))),
    max_size=3,
).map(tuple)
signals = st.builds(
    ParsedSignal,
    action=st.sampled_from(list(SignalAction)),
    format=st.just("test"),
    symbol=st.sampled_from([None, "BTC/USDT", "ETH/USDT"]),
    order_kind=st.sampled_from(list(OrderKind)),
    price=st.one_of(st.none(), prices),
    amount=amounts,
    entry_zone=zones,
    stop_loss=st.one_of(st.none(), prices),
    take_profits=take_profits,
)


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[SignalBotStrategy, Snapshot, SignalBotState, list[StrategyFill]]:
    price = draw(prices)
    free_quote = draw(st.decimals(D(0), D("20000"), places=2))
    held = draw(st.decimals(D(0), D("2"), places=5))
    strategy = SignalBotStrategy(MARKET, SignalBotConfig(zone_orders=draw(st.integers(1, 5))))
    queued = draw(st.lists(signals, min_size=1, max_size=4))
    state = SignalBotState(
        amount=held,
        cost=held * price,
        stop_loss=draw(st.one_of(st.none(), prices)),
        take_profits=draw(take_profits),
        queue=tuple(TimedSignal(T0, signal, ref) for ref, signal in enumerate(queued)),
    )
    fills = []
    if draw(st.booleans()):
        fills.append(StrategyFill("B0", Side.BUY, price, D("0.01"), D("0.01"), D(0), T0, True))
    snapshot = Snapshot(T0, MARKET, price, (), held + sum(f.amount for f in fills), free_quote)
    return strategy, snapshot, state, fills


@settings(max_examples=400, deadline=None)
@given(situations())
def test_decide_keeps_within_what_the_bot_holds_and_may_spend(
    situation: tuple[SignalBotStrategy, Snapshot, SignalBotState, list[StrategyFill]],
) -> None:
    strategy, snapshot, state, fills = situation
    decision = strategy.decide(snapshot, state, fills)
    held = state.amount + sum(f.amount for f in fills)
    placed = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    sells = [a for a in placed if a.side is Side.SELL]
    buys = [a for a in placed if a.side is Side.BUY]
    assert sum((a.amount for a in sells), D(0)) <= min(held, snapshot.free_base)
    assert sum((a.amount for a in sells if a.tag.startswith("T")), D(0)) <= held
    spent = D(0)
    for order in buys:
        fee = MARKET.taker_fee if order.type is OrderType.MARKET else MARKET.maker_fee
        spent += order.amount * (order.price or snapshot.price) * (1 + fee)
    assert spent <= snapshot.free_quote
    for order in placed:
        assert order.amount >= MARKET.min_amount
        assert order.amount * (order.price or snapshot.price) >= MARKET.min_cost
    # Every signal is answered: acted on or refused with a reason.
    refs = [o.ref for o in decision.state.outcomes if o.ref >= 0]
    assert sorted(refs) == list(range(len(state.queue)))
    assert all(o.reason for o in decision.state.outcomes if not o.accepted)
    assert decision.state.queue == ()


ROWS = load_csv_rows("binance_BTC_USDT-1h.csv.gz", limit=400)
DATA = arrays_from_rows(ROWS.tolist())
FIRST = datetime.fromtimestamp(int(DATA.ts_ms[0]) / 1000, UTC)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 420 * 60), signals), max_size=12))
def test_any_signal_list_replays_and_the_books_match_the_account(
    timed: list[tuple[int, ParsedSignal]],
) -> None:
    items = [ReplaySignal(FIRST + timedelta(minutes=m), s) for m, s in timed]
    fast = BacktestSettings(MARKET, D(10_000), timeframe_ms=3_600_000)
    result = replay_signals(items, DATA, fast)
    # The wake promise: skipping quiet candles changes no trade and no answer.
    every = replay_signals(items, DATA, replace(fast, skip_ahead=False))
    assert every.run.fills == result.run.fills
    assert every.outcomes == result.outcomes
    state = SignalBotStrategy(MARKET).load_state(result.run.strategy_state)
    assert state.amount == result.run.final_base  # fees are in quote: the books hold every unit
    assert result.run.final_quote >= 0
    answered = [o.ref for o in result.outcomes if o.ref >= 0]
    assert sorted(answered) == list(range(len(items)))  # each signal exactly once
    outside = {o.ref for o in result.outcomes if "not replayed" in o.reason}
    assert outside == set(result.before_start) | set(result.after_end)
    assert not outside & set(result.delivered)


def test_take_profits_placed_again_after_a_second_buy_cover_the_whole_position() -> None:
    """A buy that adds to a position with a resting take-profit: the take-profit is cancelled
    and placed again for everything held, not only for what the new buy added."""
    strategy = SignalBotStrategy(MARKET)
    first_target = RestingOrder("T1", Side.SELL, OrderType.LIMIT, D(110), D("0.1"))
    state = SignalBotState(
        amount=D("0.1"),
        cost=D(10),
        take_profits=(TakeProfit(D(110), None),),
        targets=frozenset({"T1"}),
        seq=1,
    )
    second_buy = StrategyFill("B2", Side.BUY, D(100), D("0.1"), D(0), D(0), T0, True)
    # The exchange's free base leaves out what the resting take-profit holds.
    snapshot = Snapshot(T0, MARKET, D(100), (first_target,), D("0.1"), D(1000))

    decision = strategy.decide(snapshot, state, [second_buy])

    placed = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert CancelOrder("T1") in decision.actions
    assert sum((a.amount for a in placed if a.tag.startswith("T")), D(0)) == D("0.2")
