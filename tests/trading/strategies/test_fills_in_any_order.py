"""Every strategy stays whole over any order of fills (issue 9: "strategies total over any order
of fills"): over real hourly candles, Hypothesis interleaves fills, partial fills, refusals and
cancels (the strategy's own racing a fill, or someone else's) within one decision and across
decisions. Checked after every decision:

* ``decide`` never raises, never places a live tag again, never sizes an order beyond the free
  balance it was shown plus what its own cancels free;
* the strategy's books match the account's base exactly (up to dust it says it left);
* DCA: a deal holding base has a take profit resting for exactly that amount (or is exiting,
  or backing off a take profit that left the book unfilled, asking to decide at its retry time);
  an exiting deal has one exit on the book at most, and an opening or exiting deal asks to
  decide at the next price;
* grid: every level holding sellable inventory has its sell resting (or is waiting for the
  retry time of sells that left the book unfilled).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.dca_deal_orders import DealOrders
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, GridConfig, round_amount
from autogrid.trading.strategies.grid_ladder import sell_tag
from autogrid.trading.strategies.grid_state import Partial
from autogrid.trading.strategies.indicator import IndicatorStrategy, Sizing
from autogrid.trading.strategies.signals import RsiRule
from tests.trading.strategies.exchange_model import Account
from tests.trading.strategies.fill_orders import Driver, Step, dec, hourly_rows, run_over_candles

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
CANDLES = 30
# A few seconds in the normal suite; FILLS_EXAMPLES=4000 searches harder (rare races need it).
PROPERTY = settings(
    max_examples=int(os.environ.get("FILLS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def account(data: st.DataObject, quote: D) -> Account:
    return Account(MARKET, quote, fee_in_base=data.draw(st.booleans(), "fee in base"))


def unsettled(partials: dict[str, Partial] | Any) -> D:
    """Base moved by fills of orders not settled in the books yet."""
    moved = D(0)
    for partial in partials.values():
        moved += partial.net_base if partial.side is Side.BUY else -partial.amount
    return moved


@dataclass
class Leftover:
    """The account's base beyond what the strategy counts: it only ever grows, by dust, when
    the strategy closes a position."""

    left: D = D(0)

    def update(self, held_before: D, counted: D, closed: bool, price: D) -> None:
        left = held_before - counted
        if closed:
            dust = left - self.left
            assert dust >= 0, f"the books count {-dust} more base than the account holds"
            assert round_amount(dust, MARKET.amount_step) * price < MARKET.min_cost * 2, dust
        else:
            assert left == self.left, f"books {counted} vs account {held_before}, was {self.left}"
        self.left = left


# --- DCA ---------------------------------------------------------------------------------------
@st.composite
def dca_configs(draw: st.DrawFn) -> DcaConfig:
    trailing = draw(st.booleans())
    tp = draw(st.sampled_from((D("0.5"), D(1), D(2))))
    max_so = draw(st.integers(0, 4))
    return DcaConfig(
        base_order_volume=D(100),
        safety_order_volume=D(100),
        safety_order_step_percentage=draw(st.sampled_from((D("0.5"), D(1), D(2)))),
        take_profit=tp,
        max_safety_orders=max_so,
        active_safety_orders_count=draw(st.integers(1, max_so)) if max_so else 1,
        martingale_volume_coefficient=draw(st.sampled_from((D(1), D("1.5")))),
        trailing_take_profit=trailing,
        trailing_deviation=tp / 2 if trailing else D(0),
        stop_loss_percentage=draw(st.sampled_from((None, D(3), D(8)))),
        cooldown_seconds=draw(st.sampled_from((0, 3600))),
    )


class DcaCheck:
    def __init__(self) -> None:
        self.leftover = Leftover()

    def __call__(self, strategy: DcaStrategy, step: Step, account: Account) -> None:
        state, before = step.decision.state, step.before
        closed = len(state.deals) > len(before.deals) or state.deals[-1:] != before.deals[-1:]
        self.leftover.update(step.base_before, state.net_base, closed, step.snapshot.price)
        # One exit on the book at a time; a deal buying or selling at market decides again at
        # the next price, when its order refused before the book leaves nothing to notice (or,
        # refused again, once the back-off from its refusals is over).
        assert len([tag for tag in account.orders if ".EXIT" in tag]) <= 1
        if state.phase in {"opening", "closing"}:
            wake, now = step.decision.wake, step.snapshot.now
            backing_off = state.retry_at is not None and now < state.retry_at
            assert wake.every_candle or (backing_off and wake.at == state.retry_at)
        if state.phase != "in_deal" or strategy.config.trailing_take_profit or not step.clean:
            return
        held = round_amount(max(state.net_base, D(0)), MARKET.amount_step)
        deal_orders = DealOrders(strategy.config, strategy.market)
        price = deal_orders.take_profit_price(state)
        sells = [o for o in account.orders.values() if o.side is Side.SELL]
        if price is None or not deal_orders.sellable(held, price):
            return
        if state.tp_live is None and deal_orders.take_profit_waiting(state, step.snapshot.now):
            # Its take profit left the book unfilled again and again: it goes at the retry time.
            assert not sells and step.decision.wake.at == state.tp_retry_at
            return
        assert [(o.tag, o.remaining, o.price) for o in sells] == [(state.tp_live, held, price)]


@PROPERTY
@given(data=st.data())
def test_dca_over_any_order_of_fills(data: st.DataObject) -> None:
    config = data.draw(dca_configs(), "config")
    driver = Driver(DcaStrategy(config, MARKET), account(data, D(2_000)), DcaCheck(), data)
    run_over_candles(driver, CANDLES)


# --- grid --------------------------------------------------------------------------------------
class GridCheck:
    def __init__(self) -> None:
        self.leftover = Leftover()

    def __call__(self, strategy: GridStrategy, step: Step, account: Account) -> None:
        state = step.decision.state
        counted = state.position + unsettled(state.partials)
        # Rounding a fee taken in base, or the initial buy's shares, leaves dust out of the lots.
        self.leftover.update(step.base_before, counted, True, step.snapshot.price)
        if state.phase == "running" and step.clean:
            sells_for_inventory(strategy, state, account, step)


def sells_for_inventory(
    strategy: GridStrategy, state: Any, account: Account, step: Step | None = None
) -> None:
    if state.phase != "running":
        return
    if step is not None and (state.unplaced or state.unplaced_buys):
        # Orders that left the book unfilled again and again wait for the retry time, and ask
        # to decide then.
        assert state.backoff.waiting(step.snapshot.now)
        assert step.decision.wake.at == state.backoff.retry_at
    # A buy waiting to be placed again is on the ladder, for a sellable amount.
    for level, amount in state.unplaced_buys.items():
        assert level >= state.offset and strategy.ladder.sellable(amount, level) is not None
    # Inventory still (partly) in a sell being cancelled (its own, or the one a downward shift
    # moved it from) is offered once that cancel lands: that sell may yet sell it.
    assert set(state.moved) <= state.cancelling, "moved inventory waits on no cancel"
    waiting = set(state.moved.values())
    for level, lot in state.lots.items():
        if (
            strategy.ladder.sellable(lot.amount, level) is None
            or sell_tag(level) in state.cancelling
        ):
            continue
        if level not in waiting and level not in state.unplaced:
            assert sell_tag(level) in account.orders, f"level {level} holds {lot.amount} unsold"


@PROPERTY
@given(data=st.data())
def test_grid_over_any_order_of_fills(data: st.DataObject) -> None:
    rows = hourly_rows()
    middle = dec(rows[data.draw(st.integers(0, len(rows) - 1), "around")][4])
    width = data.draw(st.sampled_from((D("0.03"), D("0.08"))), "width")
    config = GridConfig(
        lower_price=(middle * (1 - width)).quantize(D("0.01")),
        upper_price=(middle * (1 + width)).quantize(D("0.01")),
        grid_count=data.draw(st.integers(3, 8), "levels"),
        investment=D(1_000),
        direction=data.draw(st.sampled_from(Direction), "direction"),
        trailing_up=data.draw(st.booleans(), "trailing up"),
        trailing_down=data.draw(st.booleans(), "trailing down"),
    )
    driver = Driver(GridStrategy(config, MARKET), account(data, D(1_050)), GridCheck(), data)
    run_over_candles(driver, CANDLES)


# --- indicator ---------------------------------------------------------------------------------
class IndicatorCheck:
    def __init__(self) -> None:
        self.leftover = Leftover()

    def __call__(self, strategy: IndicatorStrategy, step: Step, account: Account) -> None:
        state, before = step.decision.state, step.before
        counted = state.amount + unsettled(state.pending)
        closed = state.round_trips > before.round_trips
        self.leftover.update(step.base_before, counted, closed, step.snapshot.price)
        if state.phase == "long":
            assert state.amount > 0


@PROPERTY
@given(data=st.data())
def test_indicator_over_any_order_of_fills(data: st.DataObject) -> None:
    sizing = Sizing(
        order_quote=data.draw(st.sampled_from((None, D(200))), "order quote"),
        stop_loss_pct=data.draw(st.sampled_from((None, D(2))), "stop"),
        take_profit_pct=data.draw(st.sampled_from((None, D(2))), "target"),
    )
    strategy = IndicatorStrategy(RsiRule(period=5, buy_below=45, sell_above=55), sizing, MARKET)
    driver = Driver(strategy, account(data, D(1_000)), IndicatorCheck(), data)
    run_over_candles(driver, CANDLES)
