"""Placing an order, in the sequence the state machine documents:

1. the intent was written as a NEW row with a fresh client order id (``OrderWriter.add_order``,
   in the caller's transaction, together with the strategy state that wanted it);
2. NEW -> SUBMITTING is committed (a conditional update: only one writer can ever send it);
3. ``create_order`` is called once;
4. its answer goes back through ``Transitions.apply_exchange_event``: acknowledged, rejected, or
   UNKNOWN when the outcome is ambiguous. An UNKNOWN order is settled only by looking its client
   order id up (lookups.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from autogrid.exchanges import errors
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.types import OrderRequest
from autogrid.execution.lookups import follow_up
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.transitions import Step, Transitions
from autogrid.orders.values import report_of
from autogrid.trading.orders import (
    ExchangeOrderReport,
    IllegalTransition,
    Outcome,
    on_acknowledged,
    on_ambiguous,
    on_refused,
    on_rejected,
    on_submit_started,
)

logger = logging.getLogger(__name__)


async def submit(
    manager: OrderManager,
    order_id: uuid.UUID,
) -> Outcome | None:
    """Send a NEW order once. None if it is not NEW any more (someone else has it)."""
    transitions = manager.transitions
    now = transitions.clock()
    try:
        started = await transitions.apply(order_id, lambda state, _: on_submit_started(state, now))
    except IllegalTransition:
        return None
    if started is None:
        return None
    sent = started.outcome.order
    request = OrderRequest(
        transitions.bot.symbol, sent.side, sent.type, sent.amount, sent.price, sent.client_order_id
    )
    answer = await _create(transitions, manager.connector, request)
    applied = await transitions.apply_exchange_event(
        order_id, answer.step, rejection_event=answer.rejected
    )
    if applied is None:
        return None
    await follow_up(manager, order_id, applied.outcome, answer.report)
    return applied.outcome


@dataclass(frozen=True, slots=True)
class _Answer:
    """What ``create_order`` said, as the step that applies it."""

    step: Step
    report: ExchangeOrderReport | None = None
    rejected: bool = False  # definitively: the owner's journal hears why


async def _create(
    transitions: Transitions, connector: ExchangeConnector, request: OrderRequest
) -> _Answer:
    """Call ``create_order`` once and turn whatever happens into a step."""
    try:
        placed = await connector.create_order(request)
    except errors.TemporaryExchangeError as error:
        # Nothing was executed (the connector's promise: not sent, or a refusal the exchange
        # documents as such): retire this id; the transition places the intent again under a
        # new one once the wait the exchange asked for is over.
        retry_at = transitions.clock() + timedelta(seconds=error.retry_after or 0)
        verb = "refused" if isinstance(error, errors.RequestRefused) else "not sent"
        reason = f"{verb}: {error}"[:200]
        return _Answer(lambda state, _: on_refused(state, reason, retry_at))
    except errors.AuthenticationFailed as error:
        transitions.writer.log.fatal = f"the exchange refused the API key: {error}"
        return _Answer(_rejected(str(error)))
    except errors.OrderRejected as error:
        return _Answer(_rejected(str(error)), rejected=True)
    except errors.ExchangeError as error:  # unknown outcome, fatal, anything ambiguous
        return _Answer(_ambiguous(f"{type(error).__name__}: {error}"))
    except Exception as error:
        logger.exception("create_order %s failed unexpectedly", request.client_order_id)
        return _Answer(_ambiguous(f"unexpected {type(error).__name__}"))
    report = report_of(placed)
    exchange_id = placed.exchange_order_id
    return _Answer(lambda state, _: on_acknowledged(state, exchange_id, report), report)


def _rejected(reason: str) -> Step:
    return lambda state, _: on_rejected(state, reason[:200])


def _ambiguous(reason: str) -> Step:
    return lambda state, _: on_ambiguous(state, reason[:200])
