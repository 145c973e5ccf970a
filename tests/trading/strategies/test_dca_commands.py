"""Deal commands of the DCA strategy (``start_deal``, ``close_deal``), pure: what each does in
each phase, and over arbitrary sequences of commands, prices and fills, one outcome per command,
one deal open at most, and a position never sold beyond what is held."""

from __future__ import annotations

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

    def __init__(self, quote: D = D(10_000)) -> None:
        self.quote, self.base = quote, D(0)
        self.book: dict[str, RestingOrder] = {}
        self.fills: list[StrategyFill] = []

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
    snapshot = account.snapshot(now, price)
    fills, account.fills = account.fills, []
    decision = STRATEGY.decide(snapshot, STRATEGY.enqueue(state, commands), fills)
    outcomes, state = STRATEGY.take_outcomes(decision.state)
    account.act(decision.actions, price, now)
    return STRATEGY.load_state(STRATEGY.dump_state(state)), tuple(outcomes)


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
@given(moves)
def test_any_sequence_of_commands_gets_one_outcome_each_and_one_deal_at_most(
    sequence: list[tuple[D, list[SignalAction]]],
) -> None:
    account, state, now, ref = Account(), DcaState(), T0, 0
    for price, wanted in sequence:
        now += timedelta(minutes=1)
        batch = []
        for action in wanted:
            ref += 1
            batch.append(command(action, ref, now))
        deals_before = state.deal
        state, outcomes = step(account, state, now, price, batch)
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


def test_a_bot_whose_deals_stopped_refuses_every_command_at_once() -> None:
    stopped = DcaState(phase="stopped", deal=1)
    commands = [command(SignalAction.START_DEAL, 1), command(SignalAction.CLOSE_DEAL, 2)]
    state, outcomes = step(Account(), stopped, T0, D(100_000), commands)
    assert [(o.ref, o.accepted, o.reason) for o in outcomes] == [
        (1, False, "the bot opens no more deals: its base order is below the market minimum"),
        (2, False, "the bot opens no more deals: its base order is below the market minimum"),
    ]
    assert state.phase == "stopped" and state.commands == ()
