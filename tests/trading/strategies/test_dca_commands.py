"""Deal commands of the DCA strategy (``start_deal``, ``close_deal``), pure: what each does in
each phase, and over arbitrary sequences of commands, prices and fills, one outcome per command,
one deal open at most, a position never sold beyond what is held, and a deal never left closing
(its exit refused before the book is placed again, also deciding only when woken)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.signals.model import ParsedSignal, SignalAction
from autogrid.trading.strategies.base import (
    Action,
    CancelOrder,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.dca_state import DcaState
from autogrid.trading.strategies.signal_bot_state import SignalOutcome, TimedSignal

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = DcaConfig(
    base_order_volume=D(100),
    safety_order_volume=D(100),
    safety_order_step_percentage=D(1),
    max_safety_orders=2,
    active_safety_orders_count=2,
    take_profit=D(2),
    cooldown_seconds=86_400,
)
STRATEGY = DcaStrategy(CONFIG, MARKET)


def command(action: SignalAction, ref: int, at: datetime = T0) -> TimedSignal:
    return TimedSignal(at, ParsedSignal(action=action, format="test"), ref)


class Account:
    """A tiny exchange: market orders fill at once at the price, limits rest until crossed."""

    def __init__(self, quote: D = D(10_000), denied_sells: int = 0) -> None:
        self.quote, self.base = quote, D(0)
        self.book: dict[str, RestingOrder] = {}
        self.fills: list[StrategyFill] = []
        # The next market sells are refused before the book (pre-trade risk): no order, no fill.
        self.denied_sells = denied_sells

    def snapshot(self, now: datetime, price: D) -> Snapshot:
        for order in list(self.book.values()):
            assert order.price is not None
            crossed = price <= order.price if order.side is Side.BUY else price >= order.price
            if crossed:
                self._fill(order.tag, order.side, order.price, order.amount, now)
        return Snapshot(now, MARKET, price, tuple(self.book.values()), self.base, self.quote)

    def act(self, actions: tuple[Action, ...], price: D, now: datetime) -> None:
        for action in actions:
            if isinstance(action, CancelOrder):
                self.book.pop(action.tag, None)
            elif isinstance(action, PlaceOrder) and action.type is OrderType.MARKET:
                if action.side is Side.SELL and self.denied_sells > 0:
                    self.denied_sells -= 1
                    continue
                self._fill(action.tag, action.side, price, action.amount, now)
            elif isinstance(action, PlaceOrder):
                order = RestingOrder(
                    action.tag, action.side, action.type, action.price, action.amount
                )
                self.book[action.tag] = order

    def _fill(self, tag: str, side: Side, price: D, amount: D, now: datetime) -> None:
        self.book.pop(tag, None)
        sign = 1 if side is Side.BUY else -1
        self.base += sign * amount
        self.quote -= sign * amount * price
        assert self.base >= 0, "sold more than held"
        self.fills.append(StrategyFill(tag, side, price, amount, D(0), D(0), now, True))


def step(
    account: Account, state: DcaState, now: datetime, price: D, commands: list[TimedSignal]
) -> tuple[DcaState, tuple[SignalOutcome, ...]]:
    state, outcomes, _ = decide(account, state, now, price, commands)
    return state, outcomes


def decide(
    account: Account, state: DcaState, now: datetime, price: D, commands: list[TimedSignal]
) -> tuple[DcaState, tuple[SignalOutcome, ...], Wake]:
    snapshot = account.snapshot(now, price)
    fills, account.fills = account.fills, []
    decision = STRATEGY.decide(snapshot, STRATEGY.enqueue(state, commands), fills)
    outcomes, state = STRATEGY.take_outcomes(decision.state)
    sells = [a for a in decision.actions if isinstance(a, PlaceOrder) and a.side is Side.SELL]
    assert len([a for a in sells if a.type is OrderType.MARKET]) <= 1  # one close at a time
    account.act(decision.actions, price, now)
    return STRATEGY.load_state(STRATEGY.dump_state(state)), tuple(outcomes), decision.wake


@dataclass
class Runtime:
    """Decides as the runtime does when ``only_when_woken``: on commands, fills, a changed book
    or the wake condition; otherwise at every price."""

    account: Account
    only_when_woken: bool
    state: DcaState = field(default_factory=DcaState)
    wake: Wake | None = None  # None: never decided
    tags: frozenset[str] = frozenset()

    def due(self, now: datetime, price: D, commands: list[TimedSignal]) -> bool:
        wake = self.wake
        if not self.only_when_woken or wake is None or commands or self.account.fills:
            return True
        if frozenset(self.account.book) != self.tags or wake.every_candle:
            return True  # (limits the price crosses fill in the snapshot: a changed book)
        crossed = [
            o
            for o in self.account.book.values()
            if o.price is not None
            and (price <= o.price if o.side is Side.BUY else price >= o.price)
        ]
        return bool(crossed) or (wake.at is not None and now >= wake.at)

    def step(
        self, now: datetime, price: D, commands: list[TimedSignal]
    ) -> tuple[SignalOutcome, ...] | None:
        if not self.due(now, price, commands):
            return None
        self.state, outcomes, self.wake = decide(self.account, self.state, now, price, commands)
        self.tags = frozenset(self.account.book)
        return outcomes


def test_start_deal_is_refused_while_a_deal_is_open_and_close_deal_sells_at_market() -> None:
    account, now = Account(), T0
    state, _ = step(account, DcaState(), now, D(100_000), [])  # deal 1 opens by itself
    state, _ = step(account, state, now, D(100_000), [])  # its safety orders and take profit
    assert state.phase == "in_deal" and len(account.book) == 3

    state, (refused,) = step(account, state, now, D(100_000), [command(SignalAction.START_DEAL, 1)])
    assert (refused.ref, refused.accepted, refused.reason) == (1, False, "deal 1 is open (in_deal)")

    close = [command(SignalAction.CLOSE_DEAL, 2)]
    state, (closed,) = step(account, state, now, D(100_000), close)
    assert closed.accepted and closed.reason == "deal 1: selling its position at market"
    assert account.book == {} and account.base == 0
    state, _ = step(account, state, now, D(100_000), [])  # the exit's fill closes the deal
    assert state.phase == "idle" and state.deals[-1].close_reason == "signal"

    now += timedelta(minutes=1)  # deep in the cooldown: only a signal opens the next deal
    state, none = step(account, state, now, D(100_000), [])
    assert none == () and state.phase == "idle"
    state, (opened,) = step(account, state, now, D(100_000), [command(SignalAction.START_DEAL, 3)])
    assert opened.accepted and opened.reason == "deal 2 opened" and state.deal == 2


def test_commands_an_idle_bot_cannot_do_are_refused_with_the_reason() -> None:
    account = Account(quote=D(50))  # less than the base order
    idle = DcaState(phase="idle", deal=1, next_start_at=T0 + timedelta(days=1))
    commands = [command(SignalAction.CLOSE_DEAL, 1), command(SignalAction.START_DEAL, 2)]
    state, outcomes = step(account, idle, T0, D(100_000), commands)
    assert [(o.ref, o.accepted, o.reason) for o in outcomes] == [
        (1, False, "no deal is open"),
        (2, False, "50 USDT free: not enough for the base order"),
    ]
    assert state.phase == "idle" and account.book == {}
    _, (other,) = step(account, state, T0, D(100_000), [command(SignalAction.BUY, 3)])
    assert other.reason == "buy is not an action of a DCA bot"


actions = st.sampled_from([SignalAction.START_DEAL, SignalAction.CLOSE_DEAL])
moves = st.lists(
    st.tuples(
        st.decimals(D("95000"), D("105000"), places=0),
        st.lists(actions, max_size=2),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(moves, st.integers(0, 2), st.booleans())
def test_any_sequence_of_commands_gets_one_outcome_each_and_one_deal_at_most(
    sequence: list[tuple[D, list[SignalAction]]], denied: int, only_when_woken: bool
) -> None:
    account, now, ref = Account(denied_sells=denied), T0, 0
    runtime = Runtime(account, only_when_woken)
    for price, wanted in sequence:
        now += timedelta(minutes=1)
        batch = []
        for action in wanted:
            ref += 1
            batch.append(command(action, ref, now))
        deals_before = runtime.state.deal
        decided = runtime.step(now, price, batch)
        state, outcomes = runtime.state, decided or ()
        assert [o.ref for o in outcomes] == [c.ref for c in batch]
        started = [o for o in outcomes if o.action == "start_deal" and o.accepted]
        assert len(started) <= 1  # a second start in the same decision finds the deal open
        if started:
            assert (
                started[0].reason
                == f"deal {state.deal} opened"
                == f"deal {deals_before + 1} opened"
            )
        deals_open = {tag.split(".")[0] for tag in account.book}
        assert len(deals_open) <= 1
        assert state.commands == () and state.outcomes == ()
    # A deal closing is never left waiting for nothing: its exit refused before the book (no
    # fill, no order to notice) is placed again (at the next price, or once the back-off from
    # repeated refusals is over), and the deal closes.
    account.denied_sells = 0
    for _ in range(3):  # the last refusal noticed, the sale, then its fill
        now = max(now + timedelta(minutes=1), runtime.state.retry_at or now)
        runtime.step(now, price, [])
    assert runtime.state.phase != "closing"


def test_a_bot_whose_deals_stopped_refuses_every_command_at_once() -> None:
    stopped = DcaState(phase="stopped", deal=1)
    commands = [command(SignalAction.START_DEAL, 1), command(SignalAction.CLOSE_DEAL, 2)]
    state, outcomes = step(Account(), stopped, T0, D(100_000), commands)
    assert [(o.ref, o.accepted, o.reason) for o in outcomes] == [
        (1, False, "the bot opens no more deals: its base order is below the market minimum"),
        (2, False, "the bot opens no more deals: its base order is below the market minimum"),
    ]
    assert state.phase == "stopped" and state.commands == ()
