"""Writing orders inside a transaction: new intents, denials, cancel requests, outcomes.

The one place an ``orders`` row is written: a pure outcome with an optimistic version check, its
``order_events`` row, its fill (with the strategy inbox entry), the owner's journal events for
both and any anomaly, all in the caller's session, which it only flushes. The caller owns the
transaction: the bot step when it records intents, the API's cancel route, and for everything
that follows a recorded order, ``Transitions`` (transitions.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.events.journal import record_event
from autogrid.events.payloads import Payload, fill_payload, order_payload
from autogrid.events.types import EventType
from autogrid.exchanges.types import OrderType, Side
from autogrid.models import Order, OrderEvent
from autogrid.observability.metrics import FILLS, ORDER_TRANSITIONS
from autogrid.orders import store as repo
from autogrid.orders.values import columns_of, fill_row, new_client_order_id, state_of
from autogrid.trading.orders import (
    IllegalTransition,
    Outcome,
    new_order,
    on_cancel_requested,
    on_denied,
)

logger = logging.getLogger(__name__)


class StaleOrder(Exception):
    """The row changed between our read and our write."""


@dataclass(frozen=True, slots=True)
class BotRef:
    """What the manager needs to know about the bot whose orders it handles (ids, no ORM)."""

    bot_id: uuid.UUID
    user_id: uuid.UUID
    exchange: str
    symbol: str
    # Replayed prices: trade times are replay times, unrelated to our clock.
    replay: bool = False
    # The bot still wants its orders (not stopping, stopped or failed): an order that never
    # executed is placed again. Otherwise only the reason is recorded.
    places_orders: bool = True


@dataclass(frozen=True, slots=True)
class Intent:
    """An order the strategy wants, already rounded to the market (``prepare_order``)."""

    tag: str
    side: Side
    type: OrderType
    amount: Any
    price: Any


@dataclass(slots=True)
class ManagerLog:
    """What the caller reports on after a run: definitive refusals of a key, new fills, intents
    abandoned."""

    fatal: str | None = None
    fills: int = 0
    transitions: list[str] = field(default_factory=list)
    # Intents given up after their last attempt (also events): the bot must not run on.
    abandoned: list[str] = field(default_factory=list)


class OrderWriter:
    """Order writes inside a transaction the caller owns (no network)."""

    def __init__(self, bot: BotRef) -> None:
        self.bot = bot
        self.log = ManagerLog()
        # Rows written so far: a caller holding a list of the bot's orders knows it is stale.
        self.writes = 0

    def add_order(
        self, session: AsyncSession, intent: Intent, now: datetime, **extra: Any
    ) -> tuple[Order, list[Outcome]]:
        """A NEW row for ``intent`` with a fresh client order id, and its creation event."""
        created = new_order(
            new_client_order_id(), intent.side, intent.type, intent.amount, intent.price
        )
        order = Order(
            id=uuid.uuid4(),
            bot_id=self.bot.bot_id,
            user_id=self.bot.user_id,
            exchange=self.bot.exchange,
            symbol=self.bot.symbol,
            side=intent.side.value,
            type=intent.type.value,
            intent={"tag": intent.tag, **extra},
            version=1,
            created_at=now,
            **columns_of(created.order, now, None),
        )
        order.client_order_id = created.order.client_order_id
        order.amount, order.price = created.order.amount, created.order.price
        repo.add_order(session, order)
        self.writes += 1
        self._event(session, order, created, now)
        return order, [created]

    def add_denied(
        self,
        session: AsyncSession,
        intent: Intent,
        reason: str,
        now: datetime,
        *,
        journal: bool = True,
    ) -> tuple[Order, list[Outcome]]:
        """Recorded and refused by our own checks in one go: never sent. Without ``journal``
        the owner's journal is not told again (the order's own history still is): a strategy
        placing again an order refused before, whose first refusal was journalled."""
        order, outcomes = self.add_order(session, intent, now)
        denied = on_denied(outcomes[0].order, reason[:200])
        for name, value in columns_of(denied.order, now, None).items():
            setattr(order, name, value)
        self._event(session, order, denied, now, journal=journal)
        return order, [*outcomes, denied]

    async def cancel_in(self, session: AsyncSession, order: Order, now: datetime) -> Outcome:
        """Ask for the cancel within the caller's transaction. An order still in flight
        (SUBMITTING/UNKNOWN) cannot be cancelled yet: the wish is kept in its intent and acted on
        once the order is resolved (``cancel_wanted``)."""
        try:
            outcome = on_cancel_requested(state_of(order))
        except IllegalTransition:
            intent = {**(order.intent or {}), "cancel_wanted": True}
            if not await repo.update_order(session, order.id, order.version, {"intent": intent}):
                raise StaleOrder(order.client_order_id) from None
            order.version += 1
            self.writes += 1
            return Outcome(order=state_of(order))
        await self.write(session, order, outcome, now)
        return outcome

    async def write(
        self, session: AsyncSession, order: Order, outcome: Outcome, now: datetime
    ) -> None:
        """``outcome`` over ``order`` if the row is still at the version read (else StaleOrder),
        with its event, its fill and its anomalies. Only flushes."""
        current = state_of(order)
        if (
            outcome.order == current
            and outcome.transition is None
            and outcome.recorded_fill is None
            and not outcome.anomalies
        ):
            return
        values = columns_of(outcome.order, now, order.closed_at)
        if not await repo.update_order(session, order.id, order.version, values):
            raise StaleOrder(order.client_order_id)
        order.version += 1
        self.writes += 1
        self._event(session, order, outcome, now)
        if outcome.recorded_fill is not None:
            repo.add_fill(session, fill_row(order, outcome.recorded_fill))
            self.journal(session, fill_payload(order, outcome.recorded_fill), now)
        for anomaly in outcome.anomalies:
            logger.warning(
                "order anomaly bot_id=%s order=%s %s: %s",
                self.bot.bot_id,
                order.client_order_id,
                anomaly.kind,
                anomaly.detail,
            )
            self.record(
                session,
                EventType.ORDER_ANOMALY,
                anomaly.detail,
                now,
                {"client_order_id": order.client_order_id, "kind": anomaly.kind.value},
            )

    def _event(
        self,
        session: AsyncSession,
        order: Order,
        outcome: Outcome,
        now: datetime,
        *,
        journal: bool = True,
    ) -> None:
        transition = outcome.transition
        if transition is None:
            return
        repo.add_order_event(
            session,
            OrderEvent(
                order_id=order.id,
                from_status=transition.from_status.value if transition.from_status else None,
                to_status=transition.to_status.value,
                reason=transition.reason[:200],
                data=dict(transition.data) or None,
                created_at=now,
            ),
        )
        # The owner's journal hears of the same transition (those that matter to them).
        payload = order_payload(order, outcome) if journal else None
        if payload is not None:
            self.journal(session, payload, now)

    def count(self, outcomes: Iterable[Outcome]) -> None:
        """Metrics for committed outcomes (call after the commit)."""
        for outcome in outcomes:
            if outcome.transition is not None:
                status = outcome.transition.to_status.value
                ORDER_TRANSITIONS.labels(self.bot.exchange, status).inc()
                self.log.transitions.append(status)
            if outcome.recorded_fill is not None:
                FILLS.labels(self.bot.exchange, outcome.order.side.value).inc()
                self.log.fills += 1

    def journal(self, session: AsyncSession, payload: Payload, now: datetime) -> None:
        self.record(session, payload.type, payload.message, now, payload.data)

    def bot_event(
        self,
        session: AsyncSession,
        kind: EventType,
        message: str,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        """An event the owner must read (a replacement, a rejection), logged as a warning too."""
        logger.warning("bot %s %s: %s", self.bot.bot_id, kind, message)
        self.record(session, kind, message, now, data)

    def record(
        self,
        session: AsyncSession,
        type: EventType,
        message: str,
        now: datetime,
        data: dict[str, Any] | None = None,
    ) -> None:
        """An event of this bot's journal, in the caller's transaction."""
        record_event(
            session,
            user_id=self.bot.user_id,
            bot_id=self.bot.bot_id,
            type=type,
            message=message,
            at=now,
            data=data,
        )
