"""A DCA deal whose take profit and safety order both fill (issue 9, finding 3), in either order,
in one decision or across two, with the cancels racing the fills as they do on an exchange.

Whatever the order, the deal's accounting follows the fills and the next decision leaves a take
profit for exactly the base held (or closes the deal and opens the next one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.candles import arrays_from_rows
from autogrid.trading.strategies.base import PlaceOrder
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.dca_state import DcaState
from tests.trading.strategies.exchange_model import Account

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
CONFIG = DcaConfig(
    base_order_volume=D(100),
    safety_order_volume=D(50),
    safety_order_step_percentage=D(2),
    take_profit=D(1),
    max_safety_orders=3,
    active_safety_orders_count=1,
)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Bot:
    def __init__(self) -> None:
        self.strategy = DcaStrategy(CONFIG, MARKET)
        self.account = Account(MARKET, D(10_000))
        self.state = DcaState()
        self.minute = 0

    def decide(self, price: str, *, apply: bool = True) -> tuple[object, ...]:
        self.minute += 1
        snapshot = self.account.snapshot(T0 + timedelta(minutes=self.minute), D(price))
        decision = self.strategy.decide(snapshot, self.state, self.account.take_fills())
        self.account.check_sizes(snapshot, decision.actions)
        if apply:
            self.account.apply(decision.actions, D(price))
        self.state = decision.state
        return decision.actions

    def fill(self, tag: str) -> None:
        assert self.account.fill(tag, self.account.orders[tag].remaining, T0) is not None

    def take_profits(self) -> list[tuple[D, D | None]]:
        return [
            (order.remaining, order.price)
            for order in self.account.orders.values()
            if order.side is Side.SELL
        ]

    def in_deal_with_tp_and_so1(self) -> None:
        self.decide("100")  # the base order, at market
        self.fill("D1.BO")
        self.decide("100")  # SO1 at 98, TP1 at 101 for 1 BTC
        assert set(self.account.orders) == {"D1.SO1", "D1.TP1"}


def test_take_profit_then_safety_order_in_one_decision() -> None:
    bot = Bot()
    bot.in_deal_with_tp_and_so1()
    bot.fill("D1.TP1")  # up to 101 first...
    bot.fill("D1.SO1")  # ...then down to 98
    bot.decide("99")
    held = D("0.51020")  # 50 / 98, what SO1 bought; the base order's 1 BTC was sold
    assert bot.state.phase == "in_deal" and bot.state.net_base == held
    assert bot.account.base_total == held
    # The deal holds only SO1's base, bought at 98: its take profit is 1 % above that.
    assert bot.take_profits() == [(held, D("98.98"))]
    assert "D1.SO2" in bot.account.orders  # one more safety order, as after any SO fill
    bot.fill(next(tag for tag in bot.account.orders if ".TP" in tag))
    bot.decide("99")
    deal = bot.state.deals[-1]
    assert deal.close_reason == "take_profit" and deal.profit > 0
    assert bot.account.base_total == 0
    assert set(bot.account.orders) == {"D2.BO"}  # the next deal opens at once (no cooldown)


def test_safety_order_then_take_profit_in_one_decision() -> None:
    bot = Bot()
    bot.in_deal_with_tp_and_so1()
    bot.fill("D1.SO1")  # down to 98 first...
    bot.fill("D1.TP1")  # ...then up to 101: TP1 sold the 1 BTC it was placed for
    bot.decide("100.5")
    held = D("0.51020")
    assert bot.state.net_base == held == bot.account.base_total
    assert bot.account.refused == []  # the new take profit fits what is held
    # Average cost of what is left: (100 + 0.5102 x 98) / 1.5102 = 99.3243 -> x 1.01 = 100.32
    assert bot.take_profits() == [(held, D("100.32"))]


def test_take_profit_fills_as_its_replacement_is_placed() -> None:
    """SO1 fills; the decision replaces TP1 (1 BTC) with TP2 (1.5102 BTC), but TP1 fills before
    its cancel lands, so the account refuses TP2. The next decision places a take profit for
    what is really left."""
    bot = Bot()
    bot.in_deal_with_tp_and_so1()
    bot.fill("D1.SO1")
    actions = bot.decide("98.5", apply=False)
    bot.fill("D1.TP1")  # the race: the cancel arrives after the fill
    bot.account.apply(actions, D("98.5"))  # type: ignore[arg-type]
    assert bot.account.refused == ["D1.TP2"]
    bot.decide("101")
    held = D("0.51020")
    assert bot.state.net_base == held == bot.account.base_total
    assert bot.take_profits() == [(held, D("100.32"))]


def test_safety_order_fills_as_the_closed_deal_cancels_it() -> None:
    """TP1 closes the deal; SO1 fills before its cancel lands. That base was bought: the next
    deal holds it with its own, and its take profit sells both."""
    bot = Bot()
    bot.in_deal_with_tp_and_so1()
    bot.fill("D1.TP1")
    actions = bot.decide("101", apply=False)
    bot.fill("D1.SO1")  # the race
    bot.account.apply(actions, D("101"))  # type: ignore[arg-type]
    assert bot.state.deals[-1].number == 1 and "D2.BO" in bot.account.orders
    bot.decide("100")  # the late SO1 fill arrives while deal 2 is opening
    bot.fill("D2.BO")
    bot.decide("100")
    held = bot.account.base_total
    assert held == D("0.51020") + D("0.99009")  # SO1's base and deal 2's base order (100/101)
    assert bot.state.phase == "in_deal" and bot.state.net_base == held
    ((amount, _),) = bot.take_profits()
    assert amount == held


def test_stop_loss_exit_sells_again_what_a_late_fill_bought() -> None:
    config = DcaConfig(D(100), D(50), D(2), D(1), max_safety_orders=1, stop_loss_percentage=D(1))
    bot = Bot()
    bot.strategy = DcaStrategy(config, MARKET)
    bot.in_deal_with_tp_and_so1()
    actions = bot.decide("98.5", apply=False)  # below the 1 % stop: exit at market
    bot.fill("D1.SO1")  # SO1 fills before its cancel lands
    bot.account.apply(actions, D("98.5"))  # type: ignore[arg-type]
    bot.fill("D1.EXIT")
    bot.decide("98")
    assert [o.tag for o in bot.account.orders.values()] == ["D1.EXIT2"]
    assert bot.account.orders["D1.EXIT2"].type is OrderType.MARKET
    assert bot.account.orders["D1.EXIT2"].amount == D("0.51020")
    bot.fill("D1.EXIT2")
    bot.decide("98")
    assert bot.state.deals[-1].close_reason == "stop_loss"
    assert bot.account.base_total == 0


def test_an_exit_refused_before_the_book_is_placed_again_at_the_next_price() -> None:
    """Pre-trade risk (or the exchange) refuses the stop-loss sale: no order rests, nothing
    fills, so nothing the runtime watches changes. The deal once asked for no wake-up then and
    stayed closing for good, holding its base."""
    config = DcaConfig(D(100), D(50), D(2), D(1), max_safety_orders=1, stop_loss_percentage=D(1))
    bot = Bot()
    bot.strategy = DcaStrategy(config, MARKET)
    bot.in_deal_with_tp_and_so1()
    held = bot.account.base_total
    snapshot = bot.account.snapshot(T0 + timedelta(hours=1), D("98.5"))  # below the 1 % stop
    decision = bot.strategy.decide(snapshot, bot.state, bot.account.take_fills())
    [refused] = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert (refused.tag, refused.type, refused.amount) == ("D1.EXIT", OrderType.MARKET, held)
    bot.account.apply(tuple(a for a in decision.actions if a is not refused), D("98.5"))
    bot.state = decision.state
    assert bot.state.phase == "closing" and bot.account.orders == {}
    assert decision.wake.every_candle  # the only reason left to decide again

    [again] = [a for a in bot.decide("98.4") if isinstance(a, PlaceOrder)]
    assert (again.tag, again.side, again.type) == ("D1.EXIT2", Side.SELL, OrderType.MARKET)
    assert again.amount == held and list(bot.account.orders) == ["D1.EXIT2"]
    bot.fill("D1.EXIT2")
    bot.decide("98.4")
    assert [(d.number, d.close_reason) for d in bot.state.deals] == [(1, "stop_loss")]
    assert bot.account.base_total == 0  # all sold (the next deal's base order is in flight)


def test_an_exit_waits_for_the_take_profit_it_cancelled_to_free_the_base() -> None:
    """The stop-loss sale reaches the exchange before the take profit's cancel lands: the base
    is still locked in the take profit and the sale is refused. The deal once ended at the next
    decision, holding its whole position, and opened the next deal beside it."""
    config = DcaConfig(D(100), D(50), D(2), D(1), max_safety_orders=1, stop_loss_percentage=D(1))
    bot = Bot()
    bot.strategy = DcaStrategy(config, MARKET)
    bot.in_deal_with_tp_and_so1()
    held = bot.account.base_total
    actions = bot.decide("98.5", apply=False)  # below the 1 % stop: cancel all, exit at market
    [exit_] = [a for a in actions if isinstance(a, PlaceOrder)]
    assert not bot.account.place(exit_, D("98.5"))  # refused: the take profit holds the base

    assert bot.decide("98.4") == ()  # the cancels have not landed: wait for them
    assert bot.state.phase == "closing" and not bot.state.deals
    bot.account.cancel("D1.TP1")
    bot.account.cancel("D1.SO1")
    [again] = [a for a in bot.decide("98.4") if isinstance(a, PlaceOrder)]
    assert (again.tag, again.type, again.amount) == ("D1.EXIT2", OrderType.MARKET, held)
    bot.fill("D1.EXIT2")
    bot.decide("98.4")
    assert [(d.number, d.close_reason) for d in bot.state.deals] == [(1, "stop_loss")]
    assert bot.account.base_total == 0


def test_a_base_order_refused_before_the_book_is_placed_again_at_the_next_price() -> None:
    """Pre-trade risk refuses the market base order (the daily loss limit, say): nothing rests,
    nothing fills. The deal once asked for no wake-up then and stayed opening for good, a bot
    that never traded again, even once the limit allowed it."""
    bot = Bot()
    snapshot = bot.account.snapshot(T0, D(100))
    decision = bot.strategy.decide(snapshot, bot.state, [])
    [refused] = [a for a in decision.actions if isinstance(a, PlaceOrder)]
    assert (refused.tag, refused.side, refused.type) == ("D1.BO", Side.BUY, OrderType.MARKET)
    bot.state = decision.state  # not applied: refused before the book
    assert bot.state.phase == "opening" and decision.wake.every_candle

    # The same deal's base order again: its deal never opened, so it keeps its number.
    [again] = [a for a in bot.decide("100") if isinstance(a, PlaceOrder)]
    assert (again.tag, again.side, again.type) == ("D1.BO", Side.BUY, OrderType.MARKET)
    bot.fill("D1.BO")
    bot.decide("100")
    assert bot.state.phase == "in_deal" and set(bot.account.orders) == {"D1.SO1", "D1.TP1"}


@pytest.mark.parametrize("skip_ahead", [True, False])
@pytest.mark.parametrize(
    ("both", "sold_at"),
    [
        # Up to the TP first, then down to SO1: TP2 at 98 x 1.01 = 98.98 fills at the next open.
        ((100.5, 101.5, 97.5, 99), D(99)),
        # Down to SO1 first, then up to the TP: TP2 at the average cost 99.3243 x 1.01.
        ((99, 101.2, 98, 100.5), D("100.32")),
    ],
)
def test_a_backtest_candle_that_fills_the_take_profit_and_a_safety_order(
    both: tuple[float, float, float, float], sold_at: D, skip_ahead: bool
) -> None:
    bars = [(100, 100, 100, 100), (100, 100.2, 99.9, 100), both, (99, 100.5, 98.5, 99.2)]
    rows = [[i * 60_000, o, h, low, c, 1.0] for i, (o, h, low, c) in enumerate(bars)]
    run = run_backtest(
        DcaStrategy(CONFIG, MARKET),
        arrays_from_rows(rows),
        BacktestSettings(MARKET, D(10_000), skip_ahead=skip_ahead),
    )
    trades = [(f.index, f.tag, f.price, f.amount) for f in run.fills]
    assert trades[:3] == sorted(trades[:3], key=lambda t: t[0]) and trades[0][1] == "D1.BO"
    assert {t[1] for t in trades if t[0] == 2} == {"D1.TP1", "D1.SO1"}
    # The next take profit sells exactly what SO1 bought, and the deal closes in profit.
    assert trades[-1][1:] == ("D1.TP2", sold_at, D("0.51020"))
    deal = run.strategy_state["deals"][0]
    assert deal["close_reason"] == "take_profit" and D(deal["profit"]) > 0
    assert run.final_base == 0


def test_a_state_saved_before_fills_were_counted_as_they_came_counts_its_partials() -> None:
    """Saved states used to keep an open order's fills aside ("partials") until it completed;
    they are counted when such a state is loaded, and kept as that order's progress."""
    bot = Bot()
    bot.in_deal_with_tp_and_so1()
    saved = bot.state.to_dict()
    saved.pop("progress")
    saved["partials"] = {"D1.SO1": ["buy", "0.2", "19.6", "0.0196", "0"]}  # 0.2 BTC at 98
    loaded = DcaState.from_dict(saved)
    assert loaded.bought_amount == D(1) + D("0.2") and loaded.net_base == D("1.2")
    assert loaded.deal_cost == bot.state.deal_cost + D("19.6") + D("0.0196")
    assert loaded.partials["D1.SO1"].amount == D("0.2")
    assert DcaState.from_dict(loaded.to_dict()) == loaded  # the new form round-trips as is
