"""The signal bot's close at market covers what it holds when the close is over: a buy cancelled
by the close that filled before its cancel landed is sold by a second sale."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from autogrid.exchanges.types import OrderType, Side
from autogrid.signals.model import Amount, AmountUnit, OrderKind, ParsedSignal, SignalAction
from autogrid.trading.strategies.base import CancelOrder, PlaceOrder
from autogrid.trading.strategies.signal_bot import SignalBotStrategy
from autogrid.trading.strategies.signal_bot_state import SignalBotState, TimedSignal
from tests.trading.strategies.exchange_model import Account
from tests.trading.strategies.smart_trade_driver import MARKET, STEP, T0


def signal(action: SignalAction, **fields: object) -> ParsedSignal:
    return ParsedSignal(action=action, format="test", **fields)  # type: ignore[arg-type]


def test_a_buy_that_fills_as_the_close_cancels_it_is_sold_by_a_second_sale() -> None:
    strategy = SignalBotStrategy(MARKET)
    account = Account(MARKET, D(10_000))
    buy = signal(
        SignalAction.BUY,
        order_kind=OrderKind.LIMIT,
        price=D(99),
        amount=Amount(D(1), AmountUnit.BASE),
    )
    state = SignalBotState(queue=(TimedSignal(T0, buy, 1),))
    decision = strategy.decide(account.snapshot(T0, D(100)), state, [])
    account.apply(decision.actions, D(100))
    [entry] = [a.tag for a in decision.actions if isinstance(a, PlaceOrder)]

    now = T0 + STEP
    close = TimedSignal(now, signal(SignalAction.CLOSE_ALL), 2)
    decision = strategy.decide(
        account.snapshot(now, D(99)), strategy.enqueue(decision.state, [close]), []
    )
    assert [a for a in decision.actions if isinstance(a, CancelOrder)] == [CancelOrder(entry)]
    account.fill(entry, D(1), now)  # the buy fills before its cancel lands
    account.apply(decision.actions, D(99))
    state = decision.state

    now += STEP
    decision = strategy.decide(account.snapshot(now, D(99)), state, account.take_fills())
    [sale] = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert (sale.side, sale.type) == (Side.SELL, OrderType.MARKET)
    assert sale.amount == D(1)  # what the buy brought, never more
    assert decision.wake.every_candle  # until the sale is over
    account.apply(decision.actions, D(99))
    account.fill(sale.tag, sale.amount, now)

    now += timedelta(minutes=1)
    decision = strategy.decide(account.snapshot(now, D(99)), decision.state, account.take_fills())
    assert decision.actions == () and decision.state.amount == 0
    assert not decision.wake.every_candle and account.base_total == 0


def test_a_close_refused_before_the_book_is_placed_again() -> None:
    strategy = SignalBotStrategy(MARKET)
    account = Account(MARKET, D(10_000), free_base=D(1))
    state = SignalBotState(amount=D(1), cost=D(100))
    close = TimedSignal(T0, signal(SignalAction.CLOSE_ALL), 1)
    decision = strategy.decide(account.snapshot(T0, D(100)), strategy.enqueue(state, [close]), [])
    [refused] = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert decision.wake.every_candle  # denied by pre-trade risk: nothing reaches the account

    later = T0 + STEP
    decision = strategy.decide(account.snapshot(later, D(100)), decision.state, [])
    [again] = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert (again.side, again.type, again.amount) == (Side.SELL, OrderType.MARKET, D(1))
    assert again.tag != refused.tag
