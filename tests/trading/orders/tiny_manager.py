"""A tiny in-memory order manager: the reference usage of the pure order API.

Persist ``new_order`` before sending; commit SUBMITTING before the call; treat a timeout or a crash
as UNKNOWN; resolve only by looking the client order id up; write each outcome's order, transition
and fill together; then act on the outcome's follow-ups. ``records`` and the intents play the
database (they survive ``crash``); ``inbox`` and ``heard_reports`` are pushed messages held in
memory (lost in a crash).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from autogrid.trading.orders import (
    ACKNOWLEDGED_LIVE_STATUSES,
    TERMINAL_STATUSES,
    ExchangeOrderReport,
    FillReport,
    OrderSide,
    OrderState,
    OrderStatus,
    OrderType,
    Outcome,
    Transition,
    UnknownPolicy,
    apply_exchange_report,
    apply_fill,
    new_order,
    on_acknowledged,
    on_ambiguous,
    on_cancel_acknowledged,
    on_cancel_failed_not_found,
    on_cancel_requested,
    on_denied,
    on_rejected,
    on_restart,
    on_submit_started,
    resolve_unknown,
)
from tests.trading.orders.model_exchange import ModelExchange

S = OrderStatus
POLICY = UnknownPolicy(grace_seconds=30, max_checks=2, spacing_seconds=5)
# The model's eventual-consistency lag stays inside the grace window, as the policy assumes.
MAX_VISIBILITY_LAG = 20
LIMIT_PRICE = Decimal("100")


@dataclass
class Record:
    """One persisted ``orders`` row with its ``fills`` and ``order_events`` rows."""

    intent: int
    order: OrderState
    events: list[Transition]
    trade_ids: set[str] = field(default_factory=set)
    fills: list[FillReport] = field(default_factory=list)


class TinyOrderManager:
    def __init__(self, exchange: ModelExchange, now: datetime) -> None:
        self.exchange = exchange
        self.now = now
        self.records: dict[str, Record] = {}
        self.intent_amounts: list[Decimal] = []
        self.intent_wanted: list[bool] = []
        self.inbox: list[tuple[str, FillReport]] = []
        self.heard_reports: list[tuple[str, ExchangeOrderReport]] = []
        self.trade_fetches_fail = False
        self._client_ids = itertools.count(1)

    def with_status(self, *statuses: OrderStatus) -> list[str]:
        return sorted(cid for cid, r in self.records.items() if r.order.status in statuses)

    def create_intent(self, amount: Decimal) -> None:
        self.intent_amounts.append(amount)
        self.intent_wanted.append(True)
        self._create_order(len(self.intent_amounts) - 1)

    def _create_order(self, intent: int) -> None:
        client_order_id = f"c{next(self._client_ids)}"
        created = new_order(
            client_order_id,
            OrderSide.BUY,
            OrderType.LIMIT,
            self.intent_amounts[intent],
            LIMIT_PRICE,
        )
        assert created.transition is not None
        self.records[client_order_id] = Record(intent, created.order, [created.transition])

    def persist(self, cid: str, outcome: Outcome) -> None:
        """Write the outcome as one transaction would, then act on its follow-ups."""
        record = self.records[cid]
        before = record.order
        assert outcome.anomalies == (), outcome.anomalies  # the model exchange never misbehaves
        changed = outcome.order.status != before.status
        assert changed == (outcome.transition is not None), "a status change without a Transition"
        if outcome.transition is not None:
            assert outcome.transition.from_status == before.status
            assert outcome.transition.to_status == outcome.order.status
            record.events.append(outcome.transition)
        if outcome.recorded_fill is not None:
            assert outcome.recorded_fill.trade_id not in record.trade_ids
            record.trade_ids.add(outcome.recorded_fill.trade_id)
            record.fills.append(outcome.recorded_fill)
        record.order = outcome.order
        if outcome.requires_new_client_order_id:
            self._replace_if_still_wanted(record.intent)
        if outcome.needs_trade_fetch and self._fetch_trades(cid):
            self.look_up(cid)  # with the trades applied, a reported end can now be adopted
        if outcome.needs_lookup:
            self.look_up(cid)

    def apply_fill(self, cid: str, trade: FillReport) -> None:
        record = self.records[cid]
        self.persist(cid, apply_fill(record.order, trade, applied_trade_ids=set(record.trade_ids)))

    def _fetch_trades(self, cid: str) -> bool:
        """Apply the order's trades from the exchange; True if any was new to us."""
        if self.trade_fetches_fail:
            return False  # a network error: the follow-up is lost with this process's memory
        before = len(self.records[cid].fills)
        for trade in self.exchange.trades(cid, self.now):
            self.apply_fill(cid, trade)
        return len(self.records[cid].fills) > before

    def look_up(self, cid: str) -> None:
        order = self.records[cid].order
        found = self.exchange.query(cid, self.now)
        if order.status == S.UNKNOWN:
            self.persist(cid, resolve_unknown(order, found, self.now, POLICY))
        elif found is not None:
            self.persist(cid, apply_exchange_report(order, found))

    def _replace_if_still_wanted(self, intent: int) -> None:
        live = [
            r
            for r in self.records.values()
            if r.intent == intent and r.order.status not in TERMINAL_STATUSES
        ]
        if self.intent_wanted[intent] and not live:
            self._create_order(intent)

    def crash(self) -> None:
        self.inbox.clear()
        self.heard_reports.clear()
        for cid in list(self.records):
            self.persist(cid, on_restart(self.records[cid].order))

    def decide_before_sending(self, cid: str, decision: str) -> None:
        """Our checks deny the order, or the bot withdraws it; either way it is never sent."""
        self.intent_wanted[self.records[cid].intent] = False
        order = self.records[cid].order
        if decision == "denied":
            self.persist(cid, on_denied(order, "circuit breaker tripped"))
        else:
            self.persist(cid, on_cancel_requested(order))

    def submit(self, cid: str, result: str, visibility_lag: timedelta) -> None:
        self.persist(cid, on_submit_started(self.records[cid].order, self.now))
        order = self.records[cid].order
        if result == "crash_before_send":
            self.crash()
            return
        if result == "rejected":
            self.persist(cid, on_rejected(order, "insufficient balance"))
            return
        if result == "timeout_before_exchange":
            self.persist(cid, on_ambiguous(order, "timeout"))
            return
        placed = self.exchange.create(cid, order.amount, self.now, visibility_lag)
        if result == "accepted":
            self.persist(cid, on_acknowledged(order, placed.exchange_order_id, placed.report()))
        elif result == "timeout_after_exchange":
            self.persist(cid, on_ambiguous(order, "timeout"))
        else:
            assert result == "crash_after_send"
            self.crash()

    def request_cancel(self, cid: str) -> None:
        self.intent_wanted[self.records[cid].intent] = False
        self.persist(cid, on_cancel_requested(self.records[cid].order))

    def send_cancel(self, cid: str, answer: str) -> None:
        if answer == "never_arrived":
            return  # stays PENDING_CANCEL; re-sent later (cancels are idempotent)
        reply = self.exchange.cancel(cid, self.now)
        if answer == "lost":
            return
        order = self.records[cid].order
        if reply is None:
            self.persist(cid, on_cancel_failed_not_found(order))
        else:
            self.persist(cid, on_cancel_acknowledged(order, reply))

    def quiesce(self) -> None:
        """Let everything settle: deliver what is pending, wait until all is visible, resolve
        unknown orders, answer pending cancels, reconcile live orders."""
        self.trade_fetches_fail = False
        for cid, trade in self.inbox:
            self.apply_fill(cid, trade)
        self.inbox.clear()
        self.heard_reports.clear()
        self.now += timedelta(seconds=MAX_VISIBILITY_LAG + 1)
        for _ in range(POLICY.max_checks + 10):
            for cid in self.with_status(S.UNKNOWN):
                self.look_up(cid)
            self.now += POLICY.spacing
        assert not self.with_status(S.UNKNOWN), "unknown orders must resolve once visible"
        for cid in self.with_status(S.PENDING_CANCEL):
            self.send_cancel(cid, "answered")
        # Like the periodic reconciliation: only orders we still consider live are looked up, so
        # fills missing from a terminal order are only recovered by honouring follow-ups.
        for cid in self.with_status(*ACKNOWLEDGED_LIVE_STATUSES):
            self.look_up(cid)
        assert not self.with_status(S.PENDING_CANCEL)
