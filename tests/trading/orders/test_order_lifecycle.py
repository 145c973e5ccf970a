"""Stateful test: the pure order functions, driven by a tiny order manager, against a model
exchange with Binance semantics, through timeouts, crashes, duplicated, lost and reordered fills,
stale reports, eventual consistency, failing trade fetches and cancels racing fills."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from autogrid.trading.orders import (
    ACKNOWLEDGED_LIVE_STATUSES,
    TERMINAL_STATUSES,
    OrderStatus,
    apply_exchange_report,
    can_transition,
)
from autogrid.trading.orders import ExchangeOrderStatus as X
from tests.trading.orders.factories import T0
from tests.trading.orders.model_exchange import ModelExchange
from tests.trading.orders.tiny_manager import MAX_VISIBILITY_LAG, TinyOrderManager

S = OrderStatus
PRICES = [Decimal("99.5"), Decimal("100"), Decimal("100.25"), Decimal("101")]
SUBMIT_RESULTS = [
    "accepted",
    "accepted",
    "rejected",  # definitive: insufficient balance
    "timeout_before_exchange",  # the request never arrived
    "timeout_after_exchange",  # the exchange placed it, the response was lost
    "crash_before_send",  # SUBMITTING committed, process died before the call
    "crash_after_send",  # the exchange placed it, process died before recording anything
    "denied",  # our own checks refused it: never sent
    "withdrawn",  # cancel requested while still NEW: never sent
]
LATE_FILL_EDGES = {(S.CANCELED, S.FILLED), (S.EXPIRED, S.FILLED)}
picks = st.integers(0, 1_000)


class OrderLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.exchange = ModelExchange()
        self.manager = TinyOrderManager(self.exchange, T0)
        self.highest_filled: dict[str, Decimal] = {}

    def _choose(self, pick: int, *statuses: OrderStatus) -> str:
        candidates = self.manager.with_status(*statuses)
        return candidates[pick % len(candidates)]

    def _has(self, *statuses: OrderStatus) -> bool:
        return bool(self.manager.with_status(*statuses))

    # ---- rules ------------------------------------------------------------------------------

    @rule(amount=st.integers(1, 5))
    def create_intent(self, amount: int) -> None:
        self.manager.create_intent(Decimal(amount))

    @precondition(lambda self: self._has(S.NEW))
    @rule(
        pick=picks, result=st.sampled_from(SUBMIT_RESULTS), lag=st.integers(0, MAX_VISIBILITY_LAG)
    )
    def submit(self, pick: int, result: str, lag: int) -> None:
        cid = self._choose(pick, S.NEW)
        if result in ("denied", "withdrawn"):
            self.manager.decide_before_sending(cid, result)
        else:
            self.manager.submit(cid, result, timedelta(seconds=lag))

    @rule(seconds=st.integers(1, 15))
    def advance_time(self, seconds: int) -> None:
        self.manager.now += timedelta(seconds=seconds)

    @rule(failing=st.booleans())
    def trade_fetches_start_or_stop_failing(self, failing: bool) -> None:
        self.manager.trade_fetches_fail = failing

    @rule()
    def crash_and_restart(self) -> None:
        self.manager.crash()

    @precondition(lambda self: self._has(S.UNKNOWN))
    @rule(pick=picks)
    def resolve_unknown(self, pick: int) -> None:
        self.manager.look_up(self._choose(pick, S.UNKNOWN))

    @precondition(lambda self: self.exchange.open_orders())
    @rule(
        pick=picks,
        event=st.sampled_from(["partial fill", "partial fill", "full fill", "expiry"]),
        tenths=st.integers(1, 30),
        price=st.sampled_from(PRICES),
        deliveries=st.integers(0, 2),  # 0: the push is lost, 2: delivered twice
    )
    def exchange_event(
        self, pick: int, event: str, tenths: int, price: Decimal, deliveries: int
    ) -> None:
        """Something happens to an open order on the exchange; we may hear of it, or not."""
        open_orders = self.exchange.open_orders()
        placed = open_orders[pick % len(open_orders)]
        if event == "expiry":
            self.exchange.expire(placed)
        else:
            partial = min(placed.remaining, Decimal(tenths) / 10)
            amount = placed.remaining if event == "full fill" else partial
            trade = self.exchange.fill(placed, amount, price, self.manager.now)
            self.manager.inbox.extend([(placed.client_order_id, trade)] * deliveries)
        if deliveries:
            self.manager.heard_reports.append((placed.client_order_id, placed.report()))

    @precondition(lambda self: self.manager.inbox)
    @rule(pick=picks, keep_a_copy=st.booleans())
    def deliver_fill(self, pick: int, keep_a_copy: bool) -> None:
        inbox = self.manager.inbox
        index = pick % len(inbox)  # any order: deliveries are reordered
        cid, trade = inbox[index] if keep_a_copy else inbox.pop(index)
        self.manager.apply_fill(cid, trade)

    @precondition(lambda self: self.manager.heard_reports)
    @rule(pick=picks)
    def deliver_report(self, pick: int) -> None:
        heard = self.manager.heard_reports
        cid, report = heard[pick % len(heard)]  # possibly stale
        order = self.manager.records[cid].order
        self.manager.persist(cid, apply_exchange_report(order, report))

    @precondition(lambda self: self._has(*ACKNOWLEDGED_LIVE_STATUSES))
    @rule(pick=picks)
    def reconcile(self, pick: int) -> None:
        self.manager.look_up(self._choose(pick, *ACKNOWLEDGED_LIVE_STATUSES))

    @precondition(lambda self: self._has(*ACKNOWLEDGED_LIVE_STATUSES))
    @rule(pick=picks)
    def request_cancel(self, pick: int) -> None:
        self.manager.request_cancel(self._choose(pick, *ACKNOWLEDGED_LIVE_STATUSES))

    @precondition(lambda self: self._has(S.PENDING_CANCEL))
    @rule(pick=picks, answer=st.sampled_from(["answered", "lost", "never_arrived"]))
    def send_cancel(self, pick: int, answer: str) -> None:
        self.manager.send_cancel(self._choose(pick, S.PENDING_CANCEL), answer)

    @rule()
    def quiesce_and_compare(self) -> None:
        self.manager.quiesce()
        self._assert_records_match_the_exchange()

    def teardown(self) -> None:
        self.quiesce_and_compare()

    def _assert_records_match_the_exchange(self) -> None:
        records = self.manager.records
        placed = {o.client_order_id: o for o in self.exchange.orders}
        assert set(placed) <= set(records), "the exchange has orders we never recorded"
        for cid, record in records.items():
            order = record.order
            on_exchange = placed.get(cid)
            if on_exchange is None:
                assert order.status in (S.NEW, S.DENIED, S.REJECTED, S.CANCELED), order
                assert order.filled == 0 and not record.fills
                if order.status == S.CANCELED:
                    assert record.events[-1].from_status == S.NEW  # withdrawn before sending
                continue
            expected = {X.CLOSED: S.FILLED, X.CANCELED: S.CANCELED, X.EXPIRED: S.EXPIRED}.get(
                on_exchange.status,
                S.PARTIALLY_FILLED if on_exchange.filled else S.OPEN,
            )
            assert order.status == expected, (order, on_exchange)
            assert order.exchange_order_id == on_exchange.exchange_order_id
            assert order.filled == on_exchange.filled
            assert record.trade_ids == {t.trade_id for t in on_exchange.trades}
            exchange_average = on_exchange.average_price()
            if exchange_average is None:
                assert order.average_price is None
            else:
                assert order.average_price is not None
                assert abs(order.average_price - exchange_average) < Decimal("1e-15")

    # ---- invariants -------------------------------------------------------------------------

    @invariant()
    def nothing_is_left_submitting_between_steps(self) -> None:
        assert not self._has(S.SUBMITTING)

    @invariant()
    def no_client_order_id_was_ever_placed_twice(self) -> None:
        counts = Counter(o.client_order_id for o in self.exchange.orders)
        assert all(n == 1 for n in counts.values()), counts

    @invariant()
    def at_most_one_live_exchange_order_per_intent(self) -> None:
        records = self.manager.records
        live = Counter(records[o.client_order_id].intent for o in self.exchange.open_orders())
        assert all(n <= 1 for n in live.values()), live

    @invariant()
    def filled_only_grows_stays_within_amount_and_is_the_sum_of_applied_fills(self) -> None:
        all_trade_ids: list[str] = []
        for cid, record in self.manager.records.items():
            filled = record.order.filled
            assert 0 <= filled <= record.order.amount
            assert filled >= self.highest_filled.get(cid, Decimal(0))
            self.highest_filled[cid] = filled
            assert filled == sum((f.amount for f in record.fills), Decimal(0))
            all_trade_ids.extend(f.trade_id for f in record.fills)
        assert len(all_trade_ids) == len(set(all_trade_ids)), "a trade was applied twice"

    @invariant()
    def every_status_change_is_a_recorded_legal_transition(self) -> None:
        for record in self.manager.records.values():
            first, *rest = record.events
            assert (first.from_status, first.to_status) == (None, S.NEW)
            previous = S.NEW
            for event in rest:
                assert event.from_status == previous
                assert can_transition(previous, event.to_status)
                if previous in TERMINAL_STATUSES:
                    assert (previous, event.to_status) in LATE_FILL_EDGES
                previous = event.to_status
            assert previous == record.order.status


OrderLifecycle.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrderLifecycle = OrderLifecycle.TestCase
