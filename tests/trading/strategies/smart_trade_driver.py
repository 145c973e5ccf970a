"""Drives a smart trade over a price path through the honest account model: at each price the
orders it reaches fill, then the strategy decides on what it sees, as the runtime would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import Decision, PlaceOrder, StopBot, StrategyFill, Wake
from autogrid.trading.strategies.smart_trade import SmartTradeStrategy
from autogrid.trading.strategies.smart_trade_state import SmartTradeState
from tests.trading.strategies.exchange_model import Account

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=1)


@dataclass
class Run:
    account: Account
    decisions: list[tuple[D, Decision[SmartTradeState]]] = field(default_factory=list)
    fills: list[StrategyFill] = field(default_factory=list)
    denied: list[PlaceOrder] = field(default_factory=list)  # market sells refused before the book

    @property
    def state(self) -> SmartTradeState:
        return self.decisions[-1][1].state

    def placed(self) -> list[tuple[D, PlaceOrder]]:
        return [
            (price, action)
            for price, decision in self.decisions
            for action in decision.actions
            if isinstance(action, PlaceOrder)
        ]

    def stops(self) -> list[StopBot]:
        return [a for _, d in self.decisions for a in d.actions if isinstance(a, StopBot)]

    def market_sells(self) -> list[PlaceOrder]:
        """The market sells that reached the book (``denied`` ones left out)."""
        return [
            a
            for _, a in self.placed()
            if a.side is Side.SELL and a.type is OrderType.MARKET and a not in self.denied
        ]


def wakes(wake: Wake, price: D, now: datetime) -> bool:
    return (
        (wake.price_at_or_below is not None and price <= wake.price_at_or_below)
        or (wake.price_at_or_above is not None and price >= wake.price_at_or_above)
        or (wake.at is not None and now >= wake.at)
        or wake.every_candle
    )


def drive(
    strategy: SmartTradeStrategy,
    path: list[D],
    *,
    quote: D = D(10_000),
    fee_in_base: bool = False,
    only_when_woken: bool = False,
    denied_closes: int = 0,
) -> Run:
    """``only_when_woken``: decide only on fills, a changed book or the wake condition (what the
    runtime does); otherwise at every price. ``denied_closes``: the first market sells are
    refused before they reach the book (pre-trade risk: no order, no fill, nothing changes)."""
    run = Run(Account(MARKET, quote, fee_in_base=fee_in_base))
    account = run.account
    state = strategy.initial_state(account.snapshot(T0, path[0]))
    wake: Wake | None = None
    live_before: set[str] = set()
    for i, price in enumerate(path):
        now = T0 + STEP * i
        for tag in list(account.orders):
            if account.reaches(tag, price, price):
                account.fill(tag, account.orders[tag].remaining, now)
        fills = account.take_fills()
        run.fills += fills
        snapshot = account.snapshot(now, price)
        live = set(account.orders)
        quiet = (
            wake is not None and not fills and live == live_before and not wakes(wake, price, now)
        )
        if only_when_woken and quiet:
            continue
        decision = strategy.decide(snapshot, state, fills)
        account.check_sizes(snapshot, decision.actions)
        actions = []
        for action in decision.actions:
            if (
                isinstance(action, PlaceOrder)
                and (action.side, action.type) == (Side.SELL, OrderType.MARKET)
                and len(run.denied) < denied_closes
            ):
                run.denied.append(action)
                continue
            actions.append(action)
        account.apply(tuple(actions), price)
        run.decisions.append((price, decision))
        state, wake, live_before = decision.state, decision.wake, set(account.orders)
    return run
