"""The signal entry: a post to ``/api/v1/signals/{token}`` becomes one stored signal with its
outcome and its journal event, in the request's one transaction.

Order of decisions: the token (unknown or disabled: 404, nothing stored), the sender's address
(not allowed: stored as ``forbidden_ip``, answered 403), the grammar (``unparsable`` with the
error's position; or, with the language-model reader on and a body that looks like free text,
``interpreting`` after the body's duplicate check, read by a worker), a repeat (same alert id,
or same body within the source's window), staleness
(sent longer than its max_lag ago); what is left is ``accepted`` and sent to the workers after
commit (each target bot then does it, or says why not: ``autogrid.signals.execution``).

Two identical posts at the same instant, on two API processes, cannot both be accepted: finding
the source is an UPDATE of its row (``repository.claim_source``), which holds the row's lock
until the transaction commits, so the second post's duplicate check runs after the first one's
signal is committed and visible.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.errors import NotFound
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Signal, SignalSource
from autogrid.signals import repository
from autogrid.signals.entry_limit import Presented
from autogrid.signals.grammar import parse_signal
from autogrid.signals.llm_fallback import looks_like_free_text
from autogrid.signals.model import ParsedSignal, SignalParseError
from autogrid.signals.outcomes import SignalOutcome
from autogrid.signals.tokens import same_hash
from autogrid.signals.values import signal_json

ALERT_ID_CHARS = 200
INTERPRETING_REASON = "free text: the language model reads it next"
# A max_lag above this is treated as this: a timedelta cannot hold any number a sender writes.
LONGEST_LAG_SECONDS = 366 * 86_400


class UnknownSource(NotFound):
    """The one answer to every token that does not open an enabled source."""

    def __init__(self) -> None:
        super().__init__("signal source not found")


@dataclass(frozen=True, slots=True)
class Intake:
    signal: Signal
    # Sent to the workers once the request committed (accepted signals only).
    execute: bool


def _decode(body: bytes) -> str:
    # PostgreSQL text holds no NUL; an invalid byte is kept visible rather than refused.
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def ip_allowed(allowed: list[str], client_ip: str | None) -> bool:
    if not allowed:
        return True
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in allowed)


async def receive(
    session: AsyncSession,
    *,
    presented: Presented,
    body: bytes,
    client_ip: str | None,
    llm_enabled: bool = False,
) -> Intake:
    """Store the post as one signal with its outcome and event; raise ``UnknownSource`` (404)
    for a token that opens no enabled source (``presented``: as ``entry_limit.identify`` found
    it when the post was counted). With ``llm_enabled``, free text the grammar refuses is stored
    ``interpreting``: a worker asks the model, never the request."""
    if presented.source_id is None:
        raise UnknownSource()
    now = utcnow()
    token_hash = presented.token_hash
    source = await repository.claim_source(session, presented.source_id, token_hash, now)
    if source is None or not same_hash(source.token_hash, token_hash):
        raise UnknownSource()
    text = _decode(body)
    signal = Signal(
        source_id=source.id,
        user_id=source.user_id,
        received_at=now,
        client_ip=client_ip,
        body=text,
        body_hash=hashlib.sha256(body).hexdigest(),
    )
    outcome, reason = await _judge(session, source, signal, text, client_ip, now, llm_enabled)
    signal.outcome = outcome.value
    signal.reason = reason
    repository.add(session, signal)
    await session.flush()  # the signal's id, for its event
    _journal(session, source, signal)
    return Intake(signal, execute=outcome in TO_WORKER)


TO_WORKER = frozenset({SignalOutcome.ACCEPTED, SignalOutcome.INTERPRETING})


async def _judge(
    session: AsyncSession,
    source: SignalSource,
    signal: Signal,
    text: str,
    client_ip: str | None,
    now: datetime,
    llm_enabled: bool,
) -> tuple[SignalOutcome, str | None]:
    if not ip_allowed(list(source.allowed_ips), client_ip):
        return SignalOutcome.FORBIDDEN_IP, f"address {client_ip} is not allowed for this source"
    try:
        parsed = parse_signal(text, now=now)
    except SignalParseError as exc:
        if llm_enabled and looks_like_free_text(text):
            # Dedup by body applies now; staleness cannot (the model is given no time).
            if duplicate := await _duplicate(session, source, signal, now):
                return SignalOutcome.DUPLICATE, duplicate
            return SignalOutcome.INTERPRETING, INTERPRETING_REASON
        signal.error_position = exc.position
        return SignalOutcome.UNPARSABLE, exc.message
    signal.parsed = signal_json(parsed)
    signal.format = parsed.format[:20]
    signal.alert_id = parsed.alert_id[:ALERT_ID_CHARS] if parsed.alert_id else None
    if duplicate := await _duplicate(session, source, signal, now):
        return SignalOutcome.DUPLICATE, duplicate
    if stale := _stale(parsed, source, now):
        return SignalOutcome.STALE, stale
    return SignalOutcome.ACCEPTED, None


async def _duplicate(
    session: AsyncSession, source: SignalSource, signal: Signal, now: datetime
) -> str | None:
    if signal.alert_id is not None and await repository.has_alert(
        session, source.id, signal.alert_id
    ):
        return f"alert id {signal.alert_id!r} was already received"
    window = source.dedup_window_seconds
    since = now - timedelta(seconds=window)
    if window > 0 and await repository.has_body_since(session, source.id, signal.body_hash, since):
        return f"the same body was received in the last {window} s"
    return None


def _stale(parsed: ParsedSignal, source: SignalSource, now: datetime) -> str | None:
    lag = parsed.max_lag_seconds if parsed.max_lag_seconds is not None else source.max_lag_seconds
    if parsed.sent_at is None or lag is None:
        return None
    sent_at = parsed.sent_at if parsed.sent_at.tzinfo else parsed.sent_at.replace(tzinfo=UTC)
    late = now - sent_at
    if late > timedelta(seconds=min(lag, LONGEST_LAG_SECONDS)):
        return f"sent {int(late.total_seconds())} s ago, more than its max_lag of {lag} s"
    return None


def _journal(session: AsyncSession, source: SignalSource, signal: Signal) -> None:
    data: dict[str, Any] = {
        "signal_id": signal.id,
        "source_id": str(source.id),
        "outcome": signal.outcome,
        "action": (signal.parsed or {}).get("action"),
        "alert_id": signal.alert_id,
    }
    if signal.outcome in TO_WORKER:
        kind = EventType.SIGNAL_RECEIVED
        message = f"signal {signal.id} from {source.name} {signal.outcome}"
    else:
        kind = EventType.SIGNAL_REFUSED
        message = f"signal {signal.id} from {source.name}: {signal.outcome} ({signal.reason})"
        data["reason"] = signal.reason
        if signal.error_position is not None:
            data["position"] = signal.error_position
    record_event(
        session,
        user_id=source.user_id,
        bot_id=None,
        type=kind,
        message=message,
        at=signal.received_at,
        data=data,
    )
