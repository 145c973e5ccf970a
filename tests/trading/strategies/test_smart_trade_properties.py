"""The smart trade over arbitrary price paths and settings: it never sells more than it holds,
closes at most once, stops its bot exactly once when the trade is over, and each exit fires
only where its rule says."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.exchanges.types import OrderType, Side
from autogrid.signals.model import Amount, AmountUnit, TakeProfit
from autogrid.trading.strategies.base import PlaceOrder, StrategyConfigError
from autogrid.trading.strategies.smart_trade import SmartTradeStrategy
from autogrid.trading.strategies.smart_trade_config import EntryKind, SmartEntry, SmartTradeConfig
from autogrid.trading.strategies.smart_trade_state import Exit
from tests.trading.strategies.smart_trade_driver import MARKET, drive

prices = st.decimals(D(50), D(200), places=1)
paths = st.lists(prices, min_size=2, max_size=40)
shares = st.one_of(st.none(), st.decimals(D(5), D(100), places=0))


@st.composite
def configs(draw: st.DrawFn) -> SmartTradeConfig:
    kind = draw(st.sampled_from(list(EntryKind)))
    entry = SmartEntry(kind)
    if kind is EntryKind.LIMIT:
        entry = SmartEntry(kind, price=draw(prices))
    elif kind is EntryKind.ZONE:
        low, high = sorted((draw(prices), draw(prices)))
        entry = SmartEntry(kind, zone_low=low, zone_high=high, zone_orders=draw(st.integers(1, 4)))
    steps = draw(st.lists(st.builds(TakeProfit, prices, shares), max_size=3))
    stop_kind = draw(st.sampled_from(["none", "price", "percent"]))
    return SmartTradeConfig(
        amount=draw(
            st.one_of(
                st.builds(Amount, st.decimals(D(10), D(3000), places=2), st.just(AmountUnit.QUOTE)),
                st.builds(Amount, st.decimals(D(1), D(100), places=0), st.just(AmountUnit.PERCENT)),
                st.builds(Amount, st.decimals(D("0.1"), D(20), places=2), st.just(AmountUnit.BASE)),
            )
        ),
        entry=entry,
        take_profits=tuple(steps),
        stop_loss_price=draw(prices) if stop_kind == "price" else None,
        stop_loss_percent=draw(st.decimals(D(1), D(50), places=1))
        if stop_kind == "percent"
        else None,
        break_even_after_first_tp=bool(steps) and draw(st.booleans()),
        trailing_percent=draw(st.one_of(st.none(), st.decimals(D(1), D(30), places=1))),
        timeout_seconds=draw(st.one_of(st.none(), st.integers(60, 3000))),
    )


def strategy_of(config: SmartTradeConfig) -> SmartTradeStrategy | None:
    try:
        return SmartTradeStrategy(config, MARKET)
    except StrategyConfigError:
        return None


@settings(max_examples=400, deadline=None)
@given(configs(), paths, st.booleans(), st.booleans(), st.integers(0, 4))
def test_any_path_keeps_the_books_and_closes_once(
    config: SmartTradeConfig, path: list[D], fee_in_base: bool, woken: bool, denied: int
) -> None:
    strategy = strategy_of(config)
    if strategy is None:
        return
    run = drive(
        strategy, path, fee_in_base=fee_in_base, only_when_woken=woken, denied_closes=denied
    )
    account, state = run.account, run.state
    # Never sells more than held: no sell refused for want of base, the books match the account.
    assert not [tag for tag in account.refused if not tag.startswith("E")]
    assert state.holding.amount <= account.base_total
    sold = sum((f.amount for f in run.fills if f.side is Side.SELL), D(0))
    received = sum((f.amount - f.fee_base for f in run.fills if f.side is Side.BUY), D(0))
    assert sold <= received
    # At most one close on the book, and a stop of the bot exactly when the trade is over.
    assert len(run.market_sells()) <= 1
    # A trade still closing asks to be called at the next price, or after refusals at its retry
    # time: a close refused before the book (no fill, no live order to notice) is tried again,
    # never left waiting for nothing.
    if state.exit is not None and not state.done:
        wake = run.decisions[-1][1].wake
        assert wake.every_candle or (state.retry_at is not None and wake.at == state.retry_at)
    stops = run.stops()
    assert len(stops) == (1 if state.done else 0)
    after_stop = False
    for _, decision in run.decisions:
        assert not (after_stop and decision.actions)
        after_stop = after_stop or decision.state.done
    if state.done:
        assert state.exit is not None and stops[0].reason.startswith(
            f"smart trade closed: {state.exit}"
        )
        assert account.base_total < MARKET.min_amount * 2 or state.note  # sold, or dust said
        assert not account.orders
    # Each exit fired where its rule says (a close placed again after a refusal sells at
    # whatever price follows).
    closing = False
    for price, decision in run.decisions:
        closes = [
            a
            for a in decision.actions
            if isinstance(a, PlaceOrder) and a.side is Side.SELL and a.type is OrderType.MARKET
        ]
        fired, closing = not closing, closing or decision.state.exit is not None
        if not closes or not fired:
            continue
        exit = decision.state.exit
        if exit in (Exit.STOP_LOSS, Exit.BREAK_EVEN):
            assert decision.state.stop is not None and price <= decision.state.stop
        if exit is Exit.BREAK_EVEN:
            entry, stop = decision.state.entry_price, decision.state.stop
            assert entry is not None and stop is not None and stop >= entry
        if exit is Exit.TRAILING_STOP:
            assert config.trailing_percent is not None and decision.state.high is not None
            assert price <= decision.state.high * (1 - config.trailing_percent / 100)
    if state.stop_moved:
        assert config.break_even_after_first_tp and state.steps_done


@settings(max_examples=200, deadline=None)
@given(configs(), paths, st.integers(0, 5))
def test_deciding_only_when_woken_trades_the_same(
    config: SmartTradeConfig, path: list[D], denied: int
) -> None:
    """The wake promise: skipping the quiet prices changes no trade and no exit, also when
    closes are refused before they reach the book (the trade keeps asking to try again, at its
    retry times once it backs off)."""
    strategy = strategy_of(config)
    if strategy is None:
        return
    every = drive(strategy, path, denied_closes=denied)
    woken = drive(strategy, path, only_when_woken=True, denied_closes=denied)
    assert woken.fills == every.fills
    assert (woken.state.exit, woken.state.done) == (every.state.exit, every.state.done)
