"""The one way an order row changes after it was recorded: a pure step of the state machine
applied to the freshly loaded row, written back with its ``order_events`` row and its fill in one
transaction.

Everything the exchange tells us (a create's answer, a cancel's answer, a lookup, an order listed
open, a trade fetched or produced by the paper exchange) comes back through
``Transitions.apply_exchange_event``, as nautilus_trader's ``_apply_event_to_order`` does: the
state machine applies the event; an event the state machine refuses (an illegal transition) is
logged and dropped, a trade already applied is a no-op; only then is the row written. Our own
commands (start sending, request a cancel, deny) use ``Transitions.apply``, which raises the
refusal instead: the caller decides what an illegal command means.

Writes are optimistic (``orders.version``): a writer that lost a race reloads the row and applies
its pure step again, so a late answer can never overwrite a newer state.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.execution.order_writer import BotRef, OrderWriter, StaleOrder
from autogrid.execution.replacement import place_again
from autogrid.models import Order
from autogrid.orders import store as repo
from autogrid.orders.values import state_of, tag_of
from autogrid.trading.orders import IN_FLIGHT_STATUSES, IllegalTransition, OrderState, Outcome

logger = logging.getLogger(__name__)

# step(state, trade ids already applied to the order) -> outcome; the trade ids are read only
# when asked for (``with_trade_ids``): only a fill needs them.
Step = Callable[[OrderState, set[str]], Outcome]
T = TypeVar("T")

_WRITE_ATTEMPTS = 5


@dataclass(slots=True)
class Applied:
    order: Order  # the row as it was read (ids, symbol); the new values are in outcome.order
    outcome: Outcome


class Transitions:
    """Applies steps to one bot's orders, each in a transaction of its own."""

    def __init__(
        self, database: Database, writer: OrderWriter, clock: Callable[[], datetime]
    ) -> None:
        self.database = database
        self.writer = writer
        self.clock = clock

    @property
    def bot(self) -> BotRef:
        return self.writer.bot

    async def apply_exchange_event(
        self,
        order_id: uuid.UUID,
        step: Step,
        *,
        with_trade_ids: bool = False,
        rejection_event: bool = False,
    ) -> Applied | None:
        """Apply what the exchange reported; None if the row is gone or the state machine refused
        the event (dropped: the row keeps its state; an ``order_anomaly`` event says so).
        ``rejection_event``: a definitive rejection also goes to the owner's journal."""
        try:
            return await self.apply(
                order_id, step, with_trade_ids=with_trade_ids, rejection_event=rejection_event
            )
        except IllegalTransition as refused:
            logger.warning(
                "bot %s: exchange event for order %s dropped: %s",
                self.bot.bot_id,
                order_id,
                refused,
            )
            await self._journal_dropped(order_id, str(refused))
            return None

    async def _journal_dropped(self, order_id: uuid.UUID, why: str) -> None:
        """A report the order cannot take is an anomaly its owner sees, not only a log line."""
        async with self.database.session_scope() as session:
            self.writer.record(
                session,
                EventType.ORDER_ANOMALY,
                f"an exchange report was not applied to order {order_id}: {why}"[:500],
                self.clock(),
                {"order_id": str(order_id), "kind": "report_not_applicable"},
            )

    async def apply(
        self,
        order_id: uuid.UUID,
        step: Step,
        *,
        with_trade_ids: bool = False,
        rejection_event: bool = False,
    ) -> Applied | None:
        """Load the row, compute ``step(state, applied_trade_ids)``, write it and commit; None if
        the row is gone. Raises IllegalTransition if the state machine refuses the step.

        This is the write-ahead boundary, by design a transaction per transition: each step is
        committed before the network call it leads to (NEW -> SUBMITTING before create_order,
        PENDING_CANCEL before cancel_order), so a crash can never send twice nor lose what was
        learned. An order that surely never executed is placed again in the same transaction
        (``replacement.place_again``)."""
        for _ in range(_WRITE_ATTEMPTS):
            now = self.clock()
            try:
                async with self.database.session_scope() as session:
                    order = await repo.get_order(session, order_id)
                    if order is None:
                        return None
                    trade_ids = (
                        await repo.applied_trade_ids(session, order_id) if with_trade_ids else set()
                    )
                    outcome = step(state_of(order), trade_ids)
                    created = await self._write_with_effects(
                        session, order, outcome, now, rejection_event
                    )
            except StaleOrder:
                continue
            if outcome.duplicate_fill:
                logger.debug("order %s: a trade applied before, dropped", order.client_order_id)
            self.writer.count([outcome, *created])
            return Applied(order, outcome)
        raise StaleOrder(str(order_id))

    async def want_cancel(self, order_id: uuid.UUID) -> None:
        """Our cancel of an order still in flight (SUBMITTING/UNKNOWN), kept on the order and
        carried out once it is resolved (``OrderWriter.cancel_in``); committed at once, like
        every change of an order row here. Nothing if the order is no longer in flight."""
        for _ in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.session_scope() as session:
                    order = await repo.get_order(session, order_id)
                    if order is None or order.status not in IN_FLIGHT_STATUSES:
                        return
                    outcome = await self.writer.cancel_in(session, order, self.clock())
            except StaleOrder:
                continue
            self.writer.count([outcome])
            return
        raise StaleOrder(str(order_id))

    async def _write_with_effects(
        self,
        session: AsyncSession,
        order: Order,
        outcome: Outcome,
        now: datetime,
        rejection_event: bool,
    ) -> list[Outcome]:
        """The outcome, what it makes happen in the same transaction (a replacement, a
        rejection's event), flushed; the outcomes of orders created on the way."""
        await self.writer.write(session, order, outcome, now)
        if outcome.transition is None:
            return []
        if rejection_event:
            self._record_rejection(session, order, outcome, now)
        if outcome.replace_at is None:
            return []
        return await place_again(session, self.writer, order, outcome, outcome.replace_at, now)

    def _record_rejection(
        self, session: AsyncSession, order: Order, outcome: Outcome, now: datetime
    ) -> None:
        """A definitive rejection ends the intent: the strategy sees its order vanish, the owner
        reads why."""
        tag = tag_of(order)
        message = f"order {tag} rejected by the exchange: {outcome.order.error or ''}"
        data = {"tag": tag, "client_order_id": order.client_order_id}
        self.writer.bot_event(session, EventType.ORDER_REJECTED, message, data, now)

    async def read(self, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """A read-only transaction: the caller acts on what it saw (a network call, say) and
        writes any change through ``apply`` or ``apply_exchange_event``, which reload the row."""
        async with self.database.session_scope() as session:
            return await query(session)

    async def advance_trade_scan(self, order_ids: list[uuid.UUID], scanned_to: datetime) -> None:
        """Move the orders' history-scan cursor (not a state change: no version, no event)."""
        async with self.database.session_scope() as session:
            await repo.advance_trade_scan(session, order_ids, scanned_to)
