"""The order manager: the database-backed counterpart of the pure order state machine.

Every change is one pure function applied to the freshly loaded row and written back, with its
``order_events`` row and its fill, in one transaction, committed before the side effect it
triggers. Placement follows the sequence the state machine documents:

1. the intent is written as a NEW row with a fresh client order id (the caller's transaction,
   together with the strategy state that wanted it: ``add_order``);
2. NEW -> SUBMITTING is committed (a conditional update: only one writer can ever send it);
3. ``create_order`` is called once;
4. its answer is written in a transaction of its own: acknowledged, rejected, or UNKNOWN when the
   outcome is ambiguous. An UNKNOWN order is settled only by looking its client order id up.

No silent drop: an order that surely never executed (refused by the exchange for a reason that
passes, or UNKNOWN and concluded "not found") is placed again under a new client order id, in
the same transaction that retires the old one (``_replace``), so its tag never has two live
orders and never none. A definitive rejection, and an intent that exhausted its attempts, are
recorded as events; the latter also goes to the caller (``log.abandoned``), which halts the bot.

Writes are optimistic (``orders.version``): a writer that lost a race reloads the row and applies
its pure update again, so a late answer can never overwrite a newer state.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import scheduled_buy_repository as slots
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.types import EventType
from autogrid.exchanges import errors
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.types import ExchangeTrade, OrderRequest
from autogrid.execution.order_writer import BotRef, Intent, OrderWriter, StaleOrder
from autogrid.execution.trade_scan import scan_history, scan_start
from autogrid.models import Order
from autogrid.orders import store as repo
from autogrid.orders.values import (
    ATTEMPT_KEY,
    NOT_BEFORE_KEY,
    REPLACES_KEY,
    fill_report_of,
    report_of,
    state_of,
    tag_of,
)
from autogrid.trading.orders import (
    ExchangeOrderReport,
    IllegalTransition,
    OrderState,
    OrderStatus,
    Outcome,
    UnknownPolicy,
    apply_exchange_report,
    apply_fill,
    next_check_at,
    on_acknowledged,
    on_ambiguous,
    on_cancel_acknowledged,
    on_cancel_failed_not_found,
    on_cancel_requested,
    on_refused,
    on_rejected,
    on_restart,
    on_submit_started,
    resolve_unknown,
)

logger = logging.getLogger(__name__)

Step = Callable[[OrderState, set[str]], Outcome]
Also = Callable[[AsyncSession, Order, Outcome], Awaitable[None]]

_S = OrderStatus
# An intent whose order surely never executed is placed again under a new client order id, this
# many times in all (refusals are waited out first); then it is abandoned with an event and the
# bot halts: an exchange that keeps refusing needs a human.
MAX_SUBMIT_ATTEMPTS = 5
ORDER_REPLACED_EVENT = EventType.ORDER_REPLACED
ORDER_REJECTED_EVENT = EventType.ORDER_REJECTED
ORDER_NOT_PLACED_EVENT = EventType.ORDER_NOT_PLACED
_WRITE_ATTEMPTS = 5


@dataclass(slots=True)
class Applied:
    order: Order  # the row as it was read (ids, symbol); the new values are in outcome.order
    outcome: Outcome


class OrderManager(OrderWriter):
    def __init__(
        self,
        database: Database,
        connector: ExchangeConnector,
        bot: BotRef,
        *,
        policy: UnknownPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(bot)
        self.database = database
        self.connector = connector
        self.policy = policy or UnknownPolicy()
        self.clock = clock

    # --- one outcome per transaction ------------------------------------------------------

    async def apply(
        self,
        order_id: uuid.UUID,
        step: Step,
        *,
        with_trade_ids: bool = False,
        also: Also | None = None,
    ) -> Applied | None:
        """Load the row, compute ``step(state, applied_trade_ids)``, write it and commit."""
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
                    await self._write(session, order, outcome, now)
                    created: list[Outcome] = []
                    if outcome.replace_at is not None and outcome.transition is not None:
                        replace_at = outcome.replace_at
                        created = await self._replace(session, order, outcome, replace_at, now)
                    if also is not None:
                        await also(session, order, outcome)
            except StaleOrder:
                continue
            self.count([outcome, *created])
            return Applied(order, outcome)
        raise StaleOrder(str(order_id))

    # --- placing --------------------------------------------------------------------------

    async def submit(self, order_id: uuid.UUID) -> Outcome | None:
        """Send a NEW order once. None if it is not NEW any more (someone else has it)."""
        now = self.clock()
        try:
            started = await self.apply(order_id, lambda state, _: on_submit_started(state, now))
        except IllegalTransition:
            return None
        if started is None:
            return None
        sent = started.outcome.order
        request = OrderRequest(
            self.bot.symbol, sent.side, sent.type, sent.amount, sent.price, sent.client_order_id
        )
        step: Step
        also: Also | None = None
        report: ExchangeOrderReport | None = None
        try:
            placed = await self.connector.create_order(request)
        except errors.TemporaryExchangeError as error:
            # Nothing was executed (the connector's promise: not sent, or a refusal the exchange
            # documents as such): retire this id; ``apply`` places the intent again under a new
            # one once the wait the exchange asked for is over.
            retry_at = self.clock() + timedelta(seconds=error.retry_after or 0)
            verb = "refused" if isinstance(error, errors.RequestRefused) else "not sent"
            reason = f"{verb}: {error}"[:200]
            step = lambda state, _: on_refused(state, reason, retry_at)  # noqa: E731
        except errors.AuthenticationFailed as error:
            self.log.fatal = f"the exchange refused the API key: {error}"
            step = _rejected(str(error))
        except errors.OrderRejected as error:
            step, also = _rejected(str(error)), self._record_rejection
        except errors.ExchangeError as error:  # unknown outcome, fatal, anything ambiguous
            step = _ambiguous(f"{type(error).__name__}: {error}")
        except Exception as error:
            logger.exception("create_order %s failed unexpectedly", sent.client_order_id)
            step = _ambiguous(f"unexpected {type(error).__name__}")
        else:
            report = report_of(placed)
            exchange_id = placed.exchange_order_id
            step = lambda state, _: on_acknowledged(state, exchange_id, report)  # noqa: E731
        applied = await self.apply(order_id, step, also=also)
        if applied is None:
            return None
        await self.follow_up(order_id, applied.outcome, report)
        return applied.outcome

    async def _replace(
        self,
        session: AsyncSession,
        order: Order,
        outcome: Outcome,
        replace_at: datetime,
        now: datetime,
    ) -> list[Outcome]:
        """The pure core says this order never executed and the cause passes
        (at ``replace_at``): the same intent as a NEW order under a new client order id,
        sent at ``replace_at``, in the transaction that retires the old one; or, attempts
        exhausted, the reason recorded for the owner."""
        intent = dict(order.intent or {})
        if intent.get("cancel_wanted"):
            return []  # withdrawn by the strategy meanwhile: nothing is wanted any more
        tag = tag_of(order)
        reason = outcome.order.error or (outcome.transition.reason if outcome.transition else "")
        attempt = int(intent.get(ATTEMPT_KEY, 1)) + 1
        data: dict[str, Any] = {"tag": tag, "client_order_id": order.client_order_id}
        if not self.bot.places_orders:
            message = f"order {tag} {reason}; not placed again: the bot is not running"
            self._bot_event(session, ORDER_NOT_PLACED_EVENT, message, data, now)
            return []
        if attempt > MAX_SUBMIT_ATTEMPTS:
            message = f"order {tag} not placed after {attempt - 1} attempts, last: {reason}"
            self._bot_event(session, ORDER_NOT_PLACED_EVENT, message, data, now)
            self.log.abandoned.append(message)
            return []
        twins = [
            o
            for o in await repo.live_orders(session, self.bot.bot_id)
            if o.id != order.id and tag is not None and tag_of(o) == tag
        ]
        if twins:
            # Never two live orders for one tag: it was placed again some other way.
            logger.warning("bot %s: tag %s is live again; no replacement", self.bot.bot_id, tag)
            return []
        state = outcome.order
        again = Intent(str(tag), state.side, state.type, state.amount, state.price)
        extra = {k: v for k, v in intent.items() if k != "tag"}
        extra[ATTEMPT_KEY] = attempt
        extra[REPLACES_KEY] = order.client_order_id
        extra.pop(NOT_BEFORE_KEY, None)
        if replace_at > now:
            extra[NOT_BEFORE_KEY] = replace_at.isoformat()
        placed, created = self.add_order(session, again, now, **extra)
        await session.flush()  # the new row exists before a recurring-buy slot points at it
        await slots.relink_order(session, order.id, placed.id)
        data.update(attempt=attempt, replacement=placed.client_order_id)
        when = f" after {replace_at.isoformat()}" if NOT_BEFORE_KEY in extra else ""
        message = f"order {tag} {reason}; placed again{when} (attempt {attempt})"
        self._bot_event(session, ORDER_REPLACED_EVENT, message, data, now)
        return created

    async def _record_rejection(
        self, session: AsyncSession, order: Order, outcome: Outcome
    ) -> None:
        """A definitive rejection ends the intent: the strategy sees its order vanish, the owner
        reads why."""
        if outcome.transition is None:
            return
        tag = tag_of(order)
        message = f"order {tag} rejected by the exchange: {outcome.order.error or ''}"
        data = {"tag": tag, "client_order_id": order.client_order_id}
        self._bot_event(session, ORDER_REJECTED_EVENT, message, data, self.clock())

    def _bot_event(
        self,
        session: AsyncSession,
        kind: EventType,
        message: str,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        logger.warning("bot %s %s: %s", self.bot.bot_id, kind, message)
        self.record(session, kind, message, now, data)

    # --- cancelling -----------------------------------------------------------------------

    async def request_cancel(self, order_id: uuid.UUID) -> None:
        """Cancel now (own transaction), then send it if anything is live on the exchange."""
        try:
            applied = await self.apply(order_id, lambda state, _: on_cancel_requested(state))
        except IllegalTransition:
            return  # in flight: resolved first, see cancel_in
        if applied is not None and applied.outcome.send_cancel:
            await self.send_cancel(order_id)

    async def send_cancel(self, order_id: uuid.UUID) -> None:
        """(Re-)send the cancel of a PENDING_CANCEL order; cancels are idempotent."""
        async with self.database.session_scope() as session:
            order = await repo.get_order(session, order_id)
        if order is None or order.status != _S.PENDING_CANCEL:
            return
        eid = order.exchange_order_id
        try:
            answer = await self.connector.cancel_order(
                self.bot.symbol,
                exchange_order_id=eid,
                client_order_id=None if eid else order.client_order_id,
            )
        except errors.ExchangeError as error:
            logger.info(
                "cancel of %s not confirmed (%s): resent later", order.client_order_id, error
            )
            return
        if answer is None:
            applied = await self.apply(order_id, lambda state, _: on_cancel_failed_not_found(state))
            report = None
        else:
            # Binance answers a cancel with the *cancel request's* client id (the original is
            # origClientOrderId): the exchange order id is what identifies the order here.
            report = replace(report_of(answer), client_order_id=None)
            applied = await self.apply(
                order_id, lambda state, _: on_cancel_acknowledged(state, report)
            )
        if applied is not None:
            await self.follow_up(order_id, applied.outcome, report)

    # --- learning what the exchange knows ---------------------------------------------------

    async def restart(self, order_id: uuid.UUID) -> None:
        """A SUBMITTING order found by a new lease holder: its outcome is unknown."""
        applied = await self.apply(order_id, lambda state, _: on_restart(state))
        if applied is not None:
            await self.follow_up(order_id, applied.outcome, None)

    async def look_up(self, order_id: uuid.UUID, *, depth: int = 0) -> None:
        async with self.database.session_scope() as session:
            order = await repo.get_order(session, order_id)
        if order is None or order.status in (_S.NEW, _S.DENIED):
            return
        now = self.clock()
        state = state_of(order)
        due = next_check_at(state, self.policy)
        if state.status == _S.UNKNOWN and due is not None and now < due:
            return
        eid = order.exchange_order_id
        try:
            found = await self.connector.fetch_order(
                self.bot.symbol,
                exchange_order_id=eid,
                # An UNKNOWN order has no exchange id: its client order id is the only key.
                client_order_id=None if eid else order.client_order_id,
            )
        except errors.ExchangeError as error:
            logger.info("lookup of %s failed: %s", order.client_order_id, error)
            return
        report = report_of(found) if found is not None else None
        applied = await self.apply(order_id, _learn(report, now, self.policy))
        if applied is not None:
            await self.follow_up(order_id, applied.outcome, report, depth=depth)

    async def apply_report(self, order_id: uuid.UUID, report: ExchangeOrderReport) -> None:
        applied = await self.apply(order_id, _learn(report, self.clock(), self.policy))
        if applied is not None:
            await self.follow_up(order_id, applied.outcome, report)

    async def follow_up(
        self,
        order_id: uuid.UUID,
        outcome: Outcome,
        report: ExchangeOrderReport | None,
        *,
        depth: int = 0,
    ) -> None:
        """Act on an outcome's follow-ups: fetch missing trades (then re-apply the report, so a
        reported end is adopted), look the order up."""
        if depth > 2:
            return
        if outcome.needs_trade_fetch:
            await self.fetch_trades([order_id])
            if report is not None:
                again = await self.apply(order_id, _learn(report, self.clock(), self.policy))
                if again is not None and again.outcome.needs_lookup:
                    await self.look_up(order_id, depth=depth + 1)
        if outcome.needs_lookup:
            await self.look_up(order_id, depth=depth + 1)

    async def fetch_trades(self, order_ids: Iterable[uuid.UUID]) -> int:
        """Apply every trade of these orders the exchange reports (each trade id once).

        Asked by order where the exchange can list one order's trades (Binance
        ``myTrades?orderId``): one request however busy the account. Elsewhere the symbol's
        history is scanned, a bounded number of pages per call, from where the last scan of
        these orders got to (trade_scan.py)."""
        async with self.database.session_scope() as session:
            orders = [o for o in [await repo.get_order(session, i) for i in order_ids] if o]
        applied, unlisted = 0, []
        for order in orders:
            if not order.exchange_order_id:
                continue
            try:
                trades = await self.connector.fetch_order_trades(
                    self.bot.symbol, order.exchange_order_id
                )
            except errors.ExchangeError as error:
                logger.info("trades of %s unavailable: %s", order.client_order_id, error)
                continue
            if trades is None:
                unlisted.append(order)
            else:
                applied += await self._record_trades(order, trades)
        if unlisted:
            applied += await self._scan_for_trades(unlisted)
        return applied

    async def record_trade(self, order_id: uuid.UUID, trade: ExchangeTrade) -> bool:
        """Apply one trade to its order (own transaction); False if it was applied before."""
        fill = fill_report_of(trade)

        def step(state: OrderState, seen: set[str]) -> Outcome:
            return apply_fill(state, fill, applied_trade_ids=seen)

        result = await self.apply(order_id, step, with_trade_ids=True)
        return result is not None and result.outcome.recorded_fill is not None

    async def _record_trades(self, order: Order, trades: Iterable[ExchangeTrade]) -> int:
        mine = sorted(
            (t for t in trades if t.exchange_order_id == order.exchange_order_id),
            key=lambda t: (t.ts, t.trade_id),
        )
        applied = 0
        for trade in mine:
            if await self.record_trade(order.id, trade):
                applied += 1
        return applied

    async def _scan_for_trades(self, orders: list[Order]) -> int:
        """The fallback: scan the history, apply what is ours, then (only then) move the
        orders' cursor to where the scan got, so the next call goes on from there."""
        since = None if self.bot.replay else min(scan_start(order) for order in orders)
        scanned = await scan_history(self.connector, self.bot.symbol, since)
        applied = 0
        for order in orders:
            applied += await self._record_trades(order, scanned.trades)
        if scanned.scanned_to is not None:
            async with self.database.session_scope() as session:
                ids = [o.id for o in orders]
                await repo.advance_trade_scan(session, ids, scanned.scanned_to)
        return applied


def _rejected(reason: str) -> Step:
    return lambda state, _: on_rejected(state, reason[:200])


def _ambiguous(reason: str) -> Step:
    return lambda state, _: on_ambiguous(state, reason[:200])


def _learn(report: ExchangeOrderReport | None, now: datetime, policy: UnknownPolicy) -> Step:
    """What a lookup (or a listed open order) says, applied to whatever the row is now."""

    def step(state: OrderState, _: set[str]) -> Outcome:
        if state.status == _S.UNKNOWN:
            return resolve_unknown(state, report, now, policy)
        if report is None or state.status in (_S.NEW, _S.DENIED):
            # "Not found" proves nothing about an order we had seen (or are still sending).
            return Outcome(order=state)
        return apply_exchange_report(state, report)

    return step
