"""A pure runtime loop for strategies whose orders are refused before the book: it decides at
every price (or only when woken), fills market orders at once unless they are refused (and
resting limits when the price reaches them), and
stores and loads the state at each decision as a restarted worker would. Refused by the
exchange (``after_sending``), an order was live a moment: the runtime decides at the next price,
as the engine does when a bot's live orders change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal as D
from typing import Any

from autogrid.exchanges.types import OrderType, Side
from autogrid.trading.strategies.base import PlaceOrder, Wake
from tests.trading.strategies.exchange_model import Account

TICK = timedelta(seconds=10)
ALL_TYPES = frozenset(OrderType)


@dataclass
class RefusingRuntime:
    """Orders of a side in ``refusing`` (and of a type in ``refused_types``) are refused before
    the book: they never reach the account."""

    strategy: Any
    state: Any
    account: Account
    only_when_woken: bool
    wake: Wake | None = None
    refusing: frozenset[Side] = frozenset()
    refused_types: frozenset[OrderType] = ALL_TYPES
    refuse_only: Callable[[PlaceOrder], bool] | None = None  # of those, only these
    after_sending: bool = False  # refused by the exchange: the next price is decided
    refused: list[tuple[datetime, PlaceOrder]] = field(default_factory=list)
    placed: list[tuple[datetime, PlaceOrder]] = field(default_factory=list)
    decided: int = 0
    changed: bool = False  # an order sent went away refused: decided at the next price

    @property
    def refused_tags(self) -> list[str]:
        return [action.tag for _, action in self.refused]

    @property
    def placed_tags(self) -> list[str]:
        return [action.tag for _, action in self.placed]

    def due(self, now: datetime, price: D) -> bool:
        wake = self.wake
        if self.changed or self.account.unseen:
            return True
        if not self.only_when_woken or wake is None or wake.every_candle:
            return True
        if getattr(self.state, "queue", ()):
            return True  # signals queued for it (the runtime decides for them)
        if wake.at is not None and now >= wake.at:
            return True
        low, high = wake.price_at_or_below, wake.price_at_or_above
        return (low is not None and price <= low) or (high is not None and price >= high)

    def step(self, now: datetime, price: D) -> None:
        for tag in list(self.account.orders):  # resting limits the price reached fill first
            if self.account.reaches(tag, price, price):
                self.account.fill(tag, self.account.orders[tag].remaining, now)
        if not self.due(now, price):
            return
        snapshot = self.account.snapshot(now, price)
        decision = self.strategy.decide(snapshot, self.state, self.account.take_fills())
        self.decided += 1
        self.changed = False
        for action in decision.actions:
            if isinstance(action, PlaceOrder) and self.refuses(action):
                self.refused.append((now, action))  # never reaches the account
                self.changed = self.after_sending
                continue
            self.account.apply((action,), price)
            if isinstance(action, PlaceOrder):
                self.placed.append((now, action))
                if action.type is OrderType.MARKET:
                    self.account.fill(action.tag, action.amount, now)
        stored = self.strategy.dump_state(decision.state)  # a restarted worker loads it again
        self.state, self.wake = self.strategy.load_state(stored), decision.wake

    def refuses(self, action: PlaceOrder) -> bool:
        if action.side not in self.refusing or action.type not in self.refused_types:
            return False
        return self.refuse_only is None or self.refuse_only(action)

    def run(self, start: datetime, end: datetime, price: D) -> datetime:
        now = start
        while now < end:
            self.step(now, price)
            now += TICK
        return now
