"""The smart trade on hand-written price paths: each exit does what it says, once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from autogrid.exchanges.types import OrderType, Side
from autogrid.signals.model import Amount, AmountUnit, TakeProfit
from autogrid.trading.strategies.base import PlaceOrder, StrategyConfigError
from autogrid.trading.strategies.smart_trade import SmartTradeStrategy
from autogrid.trading.strategies.smart_trade_config import (
    EntryKind,
    SmartEntry,
    SmartTradeConfig,
)
from autogrid.trading.strategies.smart_trade_state import Exit, SmartTradeState
from autogrid.trading.strategies.trade_parts import take_profit_orders
from tests.trading.strategies.exchange_model import Account
from tests.trading.strategies.smart_trade_driver import MARKET, T0, drive

QUOTE_1000 = Amount(D(1000), AmountUnit.QUOTE)


def trade(**fields: object) -> SmartTradeStrategy:
    return SmartTradeStrategy(SmartTradeConfig(**{"amount": QUOTE_1000, **fields}), MARKET)  # type: ignore[arg-type]


def test_entry_tp1_then_the_stop_moved_to_break_even_closes_it() -> None:
    strategy = trade(
        take_profits=(TakeProfit(D(110), D(50)), TakeProfit(D(120), D(50))),
        stop_loss_price=D(90),
        break_even_after_first_tp=True,
    )
    run = drive(strategy, [D(100), D(100), D(105), D(111), D(105), D(99), D(98)])
    state = run.state
    assert state.done and state.exit is Exit.BREAK_EVEN
    assert state.stop_moved and state.stop is not None
    assert state.entry_price is not None and state.stop >= state.entry_price
    [stop] = run.stops()
    assert stop.reason == "smart trade closed: break_even" and not stop.sell_base
    assert len(run.market_sells()) == 1  # one close
    assert run.account.base_total == 0
    # TP1 sold half at 110, the rest at the break-even price or so: no loss beyond fees.
    assert state.holding.realized_pnl > 0


def test_the_stop_loss_sells_everything_at_market_once() -> None:
    strategy = trade(take_profits=(TakeProfit(D(120)),), stop_loss_percent=D(5))
    run = drive(strategy, [D(100), D(100), D(97), D(94), D(93), D(90)])
    assert run.state.exit is Exit.STOP_LOSS and run.state.done
    assert run.state.stop == D("95.10")  # 5% below the entry price (100.1, its fee included)
    [close] = run.market_sells()
    assert close.amount == run.state.bought
    assert len(run.stops()) == 1
    assert run.state.holding.realized_pnl < 0


def test_all_take_profit_steps_end_the_trade() -> None:
    strategy = trade(take_profits=(TakeProfit(D(110), D(30)), TakeProfit(D(120))))
    run = drive(strategy, [D(100), D(100), D(112), D(121), D(121)])
    assert run.state.exit is Exit.TAKE_PROFIT and run.state.done
    assert run.market_sells() == []
    sells = [a for _, a in run.placed() if a.side is Side.SELL]
    assert [s.price for s in sells] == [D(110), D(120)]
    assert sells[0].amount + sells[1].amount == run.state.bought  # the even step takes the rest


def test_a_trailing_stop_follows_the_high_after_its_activation() -> None:
    strategy = trade(trailing_percent=D(10), trailing_activation_price=D(120))
    # Down 10% from 115 before activation: nothing; activated at 130, 10% below is 117.
    run = drive(strategy, [D(100), D(100), D(115), D(103), D(130), D(118), D(117), D(117)])
    assert run.state.exit is Exit.TRAILING_STOP
    prices = [price for price, action in run.placed() if action.type is OrderType.MARKET]
    assert prices == [D(100), D(117)]  # the entry, then the close at the trailing level


def test_a_timeout_cancels_an_unfilled_entry_and_ends() -> None:
    strategy = trade(entry=SmartEntry(EntryKind.LIMIT, price=D(90)), timeout_seconds=120)
    run = drive(strategy, [D(100), D(100), D(100), D(100)])
    assert run.state.exit is Exit.TIMEOUT and run.state.done
    assert run.state.bought == 0 and run.market_sells() == []
    assert run.account.orders == {}


def test_a_timeout_sells_what_is_held() -> None:
    strategy = trade(take_profits=(TakeProfit(D(150)),), timeout_seconds=120)
    run = drive(strategy, [D(100), D(100), D(101), D(102), D(102)])
    assert run.state.exit is Exit.TIMEOUT and run.state.done
    assert len(run.market_sells()) == 1 and run.account.base_total == 0


def test_a_zone_entry_places_limits_from_top_to_bottom_and_sizes_targets_on_what_filled() -> None:
    zone = SmartEntry(EntryKind.ZONE, zone_low=D(90), zone_high=D(98), zone_orders=3)
    strategy = trade(entry=zone, take_profits=(TakeProfit(D(110)),))
    run = drive(strategy, [D(100), D(97), D(100)])
    buys = [a for _, a in run.placed() if a.side is Side.BUY]
    assert [b.price for b in buys] == [D(98), D(94), D(90)]
    [target] = [a for _, a in run.placed() if a.side is Side.SELL]
    assert target.amount == buys[0].amount  # only the top limit filled


def test_a_market_entry_with_its_stop_above_the_price_is_refused_and_ends() -> None:
    strategy = trade(stop_loss_price=D(105))
    run = drive(strategy, [D(100)])
    assert run.state.exit is Exit.REFUSED and run.state.done
    assert "stop loss" in run.state.note and run.placed() == []
    assert len(run.stops()) == 1


def test_a_done_trade_does_nothing_more() -> None:
    strategy = trade(stop_loss_price=D(105))
    run = drive(strategy, [D(100), D(100), D(50)])
    assert len(run.stops()) == 1 and run.decisions[-1][1].actions == ()


def test_the_state_survives_its_json_round_trip_mid_trade() -> None:
    strategy = trade(
        take_profits=(TakeProfit(D(110), D(50)), TakeProfit(D(120), D(50))),
        stop_loss_price=D(90),
        break_even_after_first_tp=True,
        trailing_percent=D(20),
        timeout_seconds=3600,
    )
    state = drive(strategy, [D(100), D(100), D(111)]).state
    assert state.targets and state.steps_done == {0}
    assert SmartTradeState.from_dict(state.to_dict()) == state
    assert strategy.restart_state(state.to_dict()) == state.to_dict()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"take_profits": (TakeProfit(D(110), D(60)), TakeProfit(D(120), D(50)))}, "more than 100"),
        (
            {"entry": SmartEntry(EntryKind.LIMIT, price=D(100)), "stop_loss_price": D(100)},
            "below the entry",
        ),
        (
            {
                "entry": SmartEntry(EntryKind.LIMIT, price=D(100)),
                "take_profits": (TakeProfit(D(99)),),
            },
            "above the entry",
        ),
        ({"entry": SmartEntry(EntryKind.LIMIT)}, "positive price"),
        ({"entry": SmartEntry(EntryKind.ZONE, zone_low=D(10), zone_high=D(5))}, "zone_low"),
        ({"stop_loss_price": D(90), "stop_loss_percent": D(5)}, "not both"),
        ({"break_even_after_first_tp": True}, "needs a take-profit"),
        ({"trailing_activation_price": D(5)}, "needs trailing_percent"),
        ({"amount": Amount(D(150), AmountUnit.PERCENT)}, "at most 100"),
    ],
)
def test_configs_that_cannot_work_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyConfigError, match=message):
        trade(**fields)


def test_remaining_steps_share_what_the_done_ones_left() -> None:
    steps = (TakeProfit(D(110), D(30)), TakeProfit(D(120), D(30)), TakeProfit(D(130), D(40)))
    orders = take_profit_orders(steps, D("0.7"), MARKET, frozenset({0}))
    assert orders == [(1, D(120), D("0.3")), (2, D(130), D("0.4"))]
    runner = (TakeProfit(D(110), D(30)), TakeProfit(D(120), D(30)))  # 40% kept as a runner
    assert take_profit_orders(runner, D("0.7"), MARKET, frozenset({0})) == [(1, D(120), D("0.3"))]


def test_targets_cancelled_by_a_stop_are_placed_again_when_the_trade_resumes() -> None:
    strategy = trade(take_profits=(TakeProfit(D(110), D(50)), TakeProfit(D(120), D(50))))
    run = drive(strategy, [D(100), D(100), D(111)])
    state, account = run.state, run.account
    assert state.steps_done == {0} and len(state.targets) == 1
    for tag in list(account.orders):  # the bot was stopped: its orders cancelled
        account.cancel(tag)
    snapshot = account.snapshot(T0, D(105))
    decision = strategy.decide(snapshot, state, [])
    [again] = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert (again.price, again.amount) == (D(120), state.holding.amount)  # the step left, only


def test_a_close_refused_before_the_book_is_tried_again_without_a_timeout() -> None:
    """Refused by pre-trade risk, the market sell never rests nor fills: nothing the runtime
    watches changes. The trade once asked for no wake-up then and stayed closing for good."""
    strategy = trade(stop_loss_price=D(95))
    run = drive(
        strategy, [D(100), D(100), D(94), D(94), D(94)], only_when_woken=True, denied_closes=1
    )
    assert len(run.denied) == 1
    assert run.state.exit is Exit.STOP_LOSS and run.state.done
    assert len(run.market_sells()) == 1 and run.account.base_total == 0
    assert len(run.stops()) == 1


def test_three_even_steps_sell_the_whole_position_and_end_the_trade() -> None:
    """A third in Decimal sums to 99.99...%: the last step once left the rounding remainder
    (one amount step) held, no step to sell it, and the trade open for good."""
    steps = (TakeProfit(D(110)), TakeProfit(D(120)), TakeProfit(D(130)))
    strategy = trade(amount=Amount(D(1003), AmountUnit.QUOTE), take_profits=steps)
    run = drive(strategy, [D(100), D(100), D(131), D(131)])
    sells = [a.amount for _, a in run.placed() if a.side is Side.SELL]
    assert sum(sells, D(0)) == run.state.bought
    assert run.state.done and run.state.exit is Exit.TAKE_PROFIT
    assert run.account.base_total == 0


def test_an_entry_cancelled_by_the_close_that_fills_as_it_goes_is_sold_too() -> None:
    """The timeout cancels the resting entry: the trade once ended in that same decision, and a
    buy filling before its cancel landed stayed held (its bot stopped without selling)."""
    strategy = trade(entry=SmartEntry(EntryKind.LIMIT, price=D(99)), timeout_seconds=60)
    account = Account(MARKET, D(10_000))
    state = strategy.initial_state(account.snapshot(T0, D(100)))
    first = strategy.decide(account.snapshot(T0, D(100)), state, [])
    account.apply(first.actions, D(100))
    [entry] = list(first.state.entries)
    later = T0 + timedelta(seconds=60)
    timeout = strategy.decide(account.snapshot(later, D(99)), first.state, [])
    assert timeout.state.exit is Exit.TIMEOUT and not timeout.state.done
    assert timeout.wake.every_candle
    account.fill(entry, account.orders[entry].remaining, later)  # before the cancel lands
    account.apply(timeout.actions, D(99))

    last = later + timedelta(seconds=60)
    close = strategy.decide(account.snapshot(last, D(99)), timeout.state, account.take_fills())
    [sale] = [a for a in close.actions if isinstance(a, PlaceOrder)]
    assert (sale.side, sale.type, sale.amount) == (Side.SELL, OrderType.MARKET, close.state.bought)
    assert not close.state.done
