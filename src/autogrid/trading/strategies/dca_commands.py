"""Deals opened and closed on command: what a DCA bot makes of ``start_deal`` and ``close_deal``
signals handed to it (``DcaStrategy.enqueue``). Pure, like the strategy: a command is an input of
``decide``, each one leaves an outcome in the state for the runtime to record.

* ``start_deal``: an idle bot opens a deal now, its cooldown and start condition notwithstanding;
  refused while a deal is open, or when the free quote cannot pay the base order.
* ``close_deal``: the open deal's orders (safety orders, take profit) are cancelled and what it
  holds is sold at market (the deal closes with reason ``signal``); refused with no deal open,
  or while its base order is still in flight.

A bot whose deals stopped (its base order below the market minimum) decides nothing more: every
command handed to it is refused at once (``refuse_all``), never left waiting until it is stale.
"""

from __future__ import annotations

from collections.abc import Mapping

from autogrid.signals.model import SignalAction
from autogrid.trading.strategies.base import Action, RestingOrder, Snapshot
from autogrid.trading.strategies.dca_deal_orders import DealFunds, DealOrders
from autogrid.trading.strategies.dca_state import DcaState
from autogrid.trading.strategies.signal_bot_state import SignalOutcome, TimedSignal

CLOSED_BY_SIGNAL = "signal"
DEALS_STOPPED = "the bot opens no more deals: its base order is below the market minimum"


def carry_out(
    orders: DealOrders,
    snapshot: Snapshot,
    work: DcaState,
    resting: Mapping[str, RestingOrder],
    actions: list[Action],
) -> None:
    """Act on the commands due at ``snapshot.now``, in order; each leaves its outcome."""
    due = [item for item in work.commands if item.at <= snapshot.now]
    work.commands = work.commands[len(due) :]
    for item in due:
        action = item.signal.action
        if action is SignalAction.START_DEAL:
            accepted, reason = _start(orders, snapshot, work, actions)
        elif action is SignalAction.CLOSE_DEAL:
            accepted, reason = _close(orders, snapshot, work, resting, actions)
        else:
            accepted, reason = False, f"{action.value} is not an action of a DCA bot"
        _record(work, item, snapshot, accepted, reason)


def refuse_all(work: DcaState, snapshot: Snapshot, reason: str) -> None:
    """Every command handed in refused with ``reason`` (the bot cannot act on any of them)."""
    commands, work.commands = work.commands, ()
    for item in commands:
        _record(work, item, snapshot, False, reason)


def _start(
    orders: DealOrders, snapshot: Snapshot, work: DcaState, actions: list[Action]
) -> tuple[bool, str]:
    if work.phase != "idle":
        return False, f"deal {work.deal} is open ({work.phase})"
    before = len(actions)
    orders.open_deal(snapshot, work, DealFunds(snapshot.free_base, snapshot.free_quote), actions)
    if work.phase == "opening":
        return True, f"deal {work.deal} opened"
    if work.phase == "stopped":
        return False, "the base order is below the market minimum"
    del actions[before:]
    return (
        False,
        f"{snapshot.free_quote} {snapshot.market.quote} free: not enough for the base order",
    )


def _close(
    orders: DealOrders,
    snapshot: Snapshot,
    work: DcaState,
    resting: Mapping[str, RestingOrder],
    actions: list[Action],
) -> tuple[bool, str]:
    if work.phase == "closing":
        return True, f"deal {work.deal} is already closing"
    if work.phase == "opening":
        # Its market base order is in flight: closing now would lose track of what it buys.
        return False, f"deal {work.deal} is still opening: send close_deal once it is open"
    if work.phase != "in_deal":
        return False, "no deal is open"
    number = work.deal
    funds = DealFunds(snapshot.free_base, snapshot.free_quote)
    orders.exit_at_market(work, CLOSED_BY_SIGNAL, resting, funds, actions)
    orders.keep_exit(snapshot, work, resting, funds, actions)
    if work.phase == "idle":
        return True, f"deal {number} closed: nothing left to sell"
    return True, f"deal {number}: selling its position at market"


def _record(
    work: DcaState, item: TimedSignal, snapshot: Snapshot, accepted: bool, reason: str
) -> None:
    outcome = SignalOutcome(item.ref, snapshot.now, item.signal.action.value, accepted, reason)
    work.outcomes = (*work.outcomes, outcome)
