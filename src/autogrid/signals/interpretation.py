"""Reading an ``interpreting`` signal with the language model, in a worker.

The model takes seconds, so it is asked with no transaction open and no row locked: the body is
read first, the model answers (or fails), then the row is locked and its status checked again
(another worker, or a redelivered message, may have settled it meanwhile). A parsed signal is
stored with format "llm" and ``accepted`` (the caller carries it out in the same transaction).
A model failure makes it ``unparsable`` with the grammar's position and the model's reason.
No staleness check: the model is never given a time.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.dispatch import BotCommand
from autogrid.bots.markets import MarketRulesProvider
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Signal
from autogrid.signals import execution, repository
from autogrid.signals.llm_fallback import parse_with_fallback
from autogrid.signals.model import ParsedSignal, SignalParseError
from autogrid.signals.outcomes import SignalOutcome
from autogrid.signals.values import signal_json

Reading = ParsedSignal | SignalParseError


async def carry_out(
    database: Database, settings: Settings, signal_id: int, markets: MarketRulesProvider
) -> list[BotCommand]:
    """The worker's unit: read an ``interpreting`` signal with the model (between two
    transactions), then carry out an accepted one (a smart trade it opens is checked against
    ``markets``); the bot commands to send after commit."""
    async with database.session_scope() as session:
        body = await body_to_read(session, signal_id)
    reading = None if body is None else await read(body, settings)
    async with database.session_scope() as session:
        if reading is not None:
            await settle(session, signal_id, reading)
        return await execution.execute(session, signal_id, markets)


async def body_to_read(session: AsyncSession, signal_id: int) -> str | None:
    """The body of a signal still waiting for the model; None for any other signal."""
    signal = await session.get(Signal, signal_id)
    if signal is None or signal.outcome != SignalOutcome.INTERPRETING:
        return None
    return signal.body


async def read(body: str, settings: Settings) -> Reading:
    """The grammar, then the model (with no session open); a failure is returned, not raised.
    Off by now (settings changed), the grammar's own refusal comes back."""
    try:
        return await parse_with_fallback(body, settings=settings)
    except SignalParseError as failure:
        return failure


async def settle(session: AsyncSession, signal_id: int, reading: Reading) -> bool:
    """Store what the model read, under the row's lock, if the signal still waits for it;
    whether it is now ``accepted`` (to be carried out)."""
    signal = await repository.lock_signal(session, signal_id)
    if signal is None or signal.outcome != SignalOutcome.INTERPRETING:
        return False
    if isinstance(reading, SignalParseError):
        signal.outcome, signal.reason = SignalOutcome.UNPARSABLE, reading.message
        signal.error_position = reading.position
    else:
        signal.parsed = signal_json(reading)
        signal.format = reading.format[:20]
        signal.outcome, signal.reason = SignalOutcome.ACCEPTED, None
    await session.flush()
    if signal.outcome != SignalOutcome.ACCEPTED:
        _journal_refusal(session, signal)
    return signal.outcome == SignalOutcome.ACCEPTED


def _journal_refusal(session: AsyncSession, signal: Signal) -> None:
    data: dict[str, object] = {
        "signal_id": signal.id,
        "source_id": str(signal.source_id),
        "outcome": signal.outcome,
        "action": (signal.parsed or {}).get("action"),
        "reason": signal.reason,
    }
    if signal.error_position is not None:
        data["position"] = signal.error_position
    record_event(
        session,
        user_id=signal.user_id,
        bot_id=None,
        type=EventType.SIGNAL_REFUSED,
        message=f"signal {signal.id}: {signal.outcome} ({signal.reason})",
        at=utcnow(),
        data=data,
    )
