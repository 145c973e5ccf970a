"""Drive a pure strategy over real candles while Hypothesis chooses what the exchange does.

Within each candle, in an order Hypothesis draws: orders the candle's range reaches fill whole or
in part, orders just placed are refused, any order is cancelled by someone else, and the strategy
is asked to decide after any of these (several fills in one call, or one per call). A cancel the
strategy sends may arrive after its order filled (whole or in part). The account
(``exchange_model``) moves exactly what each of those events moves.

After every decision the test's own ``check`` compares what the strategy believes and asked for
with what the account holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import strategies as st

from autogrid.trading.candles import CandleArrays
from autogrid.trading.strategies.base import CancelOrder, Decision, PlaceOrder, Snapshot
from tests.shared_data import load_csv_rows
from tests.trading.strategies.exchange_model import Account

HOUR_MS = 3_600_000
FRACTIONS = (Decimal("0.1"), Decimal("0.5"), Decimal("0.9"))
_ROWS: list[np.ndarray] = []


def hourly_rows() -> np.ndarray:
    """The first 6,000 rows of the real 1h BTC/USDT file (loaded once)."""
    if not _ROWS:
        _ROWS.append(load_csv_rows("binance_BTC_USDT-1h.csv.gz", limit=6_000))
    return _ROWS[0]


def dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


@dataclass(slots=True)
class Step:
    """What a check is told about one decision."""

    snapshot: Snapshot
    decision: Decision[Any]
    before: Any  # the state the decision was given
    base_before: Decimal  # the account's base (free and locked) the snapshot stood for
    clean: bool  # every order placed was accepted and no cancel raced a fill


Check = Callable[[Any, Step, Account], None]


@dataclass(slots=True)
class Driver:
    strategy: Any
    account: Account
    check: Check
    data: st.DataObject
    state: Any = None
    minute: int = 0
    start: datetime = field(default_factory=lambda: datetime(2020, 1, 1, tzinfo=UTC))
    fresh: list[str] = field(default_factory=list)  # placed by the latest decision
    decisions: int = 0

    def decide(
        self,
        price: Decimal,
        indicators: dict[str, tuple[float, float]],
        reach: tuple[Decimal, Decimal],
    ) -> None:
        self.minute += 1
        now = self.start + timedelta(minutes=self.minute)
        account = self.account
        snapshot = account.snapshot(now, price)
        if indicators:
            snapshot = Snapshot(
                now, snapshot.market, price, snapshot.open_orders, snapshot.free_base,
                snapshot.free_quote, None, indicators,
            )  # fmt: skip
        base_before = account.base_total
        if self.state is None:
            self.state = self.strategy.initial_state(snapshot)
        before = self.state
        decision = self.strategy.decide(snapshot, before, account.take_fills())
        self.decisions += 1
        account.check_sizes(snapshot, decision.actions)
        clean = self._apply(decision, price, reach)
        self.state = decision.state
        self.check(self.strategy, Step(snapshot, decision, before, base_before, clean), account)

    def _apply(
        self, decision: Decision[Any], price: Decimal, reach: tuple[Decimal, Decimal]
    ) -> bool:
        account, draw = self.account, self.data.draw
        refused = len(account.refused)
        clean = True
        self.fresh = []
        for action in decision.actions:
            if isinstance(action, CancelOrder) and action.tag in account.orders:
                # An order placed and withdrawn within one decision is never sent (the runtime
                # drops both, the backtest has no price in between): no race for it.
                racing = action.tag not in self.fresh and account.reaches(action.tag, *reach)
                if racing and draw(st.booleans(), "cancel races"):
                    # The order trades before the cancel arrives: the cancel then finds the
                    # rest of it (if any) and the fill reaches the strategy next time.
                    fraction = draw(st.sampled_from((*FRACTIONS, Decimal(1))), "raced part")
                    order = account.orders[action.tag]
                    account.fill(action.tag, order.remaining * fraction, self._now())
                    clean = False
                account.cancel(action.tag)
                self.fresh = [tag for tag in self.fresh if tag != action.tag]
            elif isinstance(action, PlaceOrder):
                if account.place(action, price):
                    self.fresh.append(action.tag)
            else:
                account.apply((action,), price)
        return clean and len(account.refused) == refused

    def _now(self) -> datetime:
        return self.start + timedelta(minutes=self.minute)

    def candle(
        self,
        low: Decimal,
        high: Decimal,
        close: Decimal,
        indicators: dict[str, tuple[float, float]],
    ) -> None:
        """The exchange's events during one candle, then a decision at its close."""
        account, draw = self.account, self.data.draw
        for _ in range(draw(st.integers(0, 5), "events")):
            reachable = [tag for tag in account.orders if account.reaches(tag, low, high)]
            kinds = ["fill"] * bool(reachable) + ["partial"] * bool(reachable)
            kinds += ["refuse"] * bool(self.fresh) + ["cancel"] * bool(account.orders)
            if not kinds:
                break
            kind = draw(st.sampled_from(kinds), "event")
            if kind in {"fill", "partial"}:
                tag = draw(st.sampled_from(reachable), "order")
                part = Decimal(1) if kind == "fill" else draw(st.sampled_from(FRACTIONS))
                account.fill(tag, account.orders[tag].remaining * part, self._now())
                self.fresh = [t for t in self.fresh if t != tag]
            elif kind == "refuse":  # the exchange rejects an order it was just sent
                tag = draw(st.sampled_from(self.fresh), "refused")
                self.fresh.remove(tag)
                if tag in account.orders and account.orders[tag].filled == 0:
                    account.cancel(tag)
            else:  # someone else cancels it (the user on the exchange's site, an expiry)
                account.cancel(draw(st.sampled_from(sorted(account.orders)), "cancelled"))
            if draw(st.booleans(), "decide now"):  # else the next event joins the same call
                price = draw(st.sampled_from((low, high, close)), "price")
                self.decide(price, indicators, (low, high))
        self.decide(close, indicators, (low, high))


def run_over_candles(driver: Driver, count: int) -> None:
    rows = hourly_rows()
    first = driver.data.draw(st.integers(0, len(rows) - count - 1), "first candle")
    piece = rows[first : first + count]
    series = indicator_series_of(driver.strategy, rows, first, count)
    driver.start = datetime.fromtimestamp(piece[0][0] / 1000, UTC)
    for index, (_, _, high, low, close, _) in enumerate(piece):
        values = {
            name: (float(values[index]), float(values[index - 1]) if index else math.nan)
            for name, values in series.items()
        }
        if index == 0:
            driver.decide(dec(close), values, (dec(low), dec(high)))
            continue
        driver.candle(dec(min(low, close)), dec(max(high, close)), dec(close), values)


def indicator_series_of(
    strategy: Any, rows: np.ndarray, first: int, count: int
) -> dict[str, np.ndarray]:
    """Each indicator series at the slice's candles, warmed up on the candles before it."""
    needed = strategy.candles_needed()
    if not needed:
        return {}
    start = max(0, first - needed)
    block = rows[start : first + count]
    candles = CandleArrays(
        block[:, 0].astype(np.int64),
        block[:, 1],
        block[:, 2],
        block[:, 3],
        block[:, 4],
        block[:, 5],
    )
    return {
        name: np.asarray(values)[first - start :]
        for name, values in strategy.indicators(candles).items()
    }
