"""Delivering the outbox: claim due rows, send each, record each outcome.

Three short steps, none of which holds a transaction open while a receiver is called:

1. claim (one transaction, committed): due rows are counted as one more attempt and leased;
2. send: every claimed message, a few at a time, each with a bounded timeout;
3. record (one transaction): the delivery log, delivered or due again after an exponential
   backoff, failed for good after ``max_attempts``; a channel that failed ``disable_after``
   times in a row is switched off with a ``notification_channel_disabled`` event.

A sender killed between 2 and 3 leaves its rows leased: once the lease ends they are claimed and
sent again, under the same ``webhook-id`` (``evt_<event id>``), so a receiver that deduplicates
on it (as the Standard Webhooks specification asks) acts on each event once. Telegram, email,
Discord and Slack have no such key: there, that window is at least once
(docs/notifications.md). Email, Discord and Slack rows are sent by apprise
(``apprise_channels.py``), one message per event, with the same retries as webhooks. The rows
of one Telegram channel are sent as one message (``telegram/delivery.py``), and a 429
postpones them by its ``retry_after`` without counting an attempt. Trading never
waits for any of this: the outbox row was written with the event by the database, and this runs
in Celery (``tasks.py``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import CredentialCryptoError, KeyRing
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Event, NotificationChannel, NotificationDelivery
from autogrid.notifications import apprise_channels, repository
from autogrid.notifications import outbox_repository as outbox
from autogrid.notifications.schemas import ChannelKind
from autogrid.notifications.secrets import (
    AppriseConfig,
    WebhookConfig,
    open_apprise,
    open_webhook,
)
from autogrid.notifications.severity import SEVERITY
from autogrid.notifications.telegram import delivery as telegram
from autogrid.notifications.webhooks import SendOutcome, WebhookMessage, send_webhook

logger = logging.getLogger(__name__)

TELEGRAM_KIND = ChannelKind.TELEGRAM.value


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 10
    base_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)
    # Longer than a batch can take (its sends run CONCURRENCY at a time, each bounded by the
    # webhook timeout), so a live sender's rows are not claimed by another meanwhile.
    lease: timedelta = timedelta(minutes=3)
    disable_after: int = 20
    batch: int = 50
    concurrency: int = 8

    def retry_delay(self, attempt: int) -> timedelta:
        """10 s, 20 s, 40 s, ... doubling per attempt, at most ``max_delay``."""
        delay: timedelta = self.base_delay * (2 ** max(0, attempt - 1))
        return min(delay, self.max_delay)


DEFAULT_POLICY = DeliveryPolicy()


@dataclass(frozen=True, slots=True)
class Job:
    claim: outbox.Claim
    kind: str
    config: WebhookConfig | AppriseConfig | None  # None: the destination cannot be decrypted
    message: WebhookMessage


def apprise_text(message: WebhookMessage) -> tuple[str, str]:
    """Title and body of an email, Discord or Slack message for one event."""
    data = message.data
    title = f"AutoGrid {data['severity']}: {message.type.replace('_', ' ')}"
    bot = f"bot {data['bot_id']}" if data.get("bot_id") else "account"
    return title, f"{data['message']}\n\n{bot} · {message.occurred_at.isoformat()}"


async def send_job(job: Job, settings: Settings) -> SendOutcome:
    """One attempt of a webhook or apprise job; never raises for a receiver's failure."""
    if isinstance(job.config, AppriseConfig):
        title, body = apprise_text(job.message)
        return await apprise_channels.send_apprise(
            job.kind, job.config.url, title=title, body=body, settings=settings
        )
    if job.config is None:
        return SendOutcome(False, None, "the destination cannot be decrypted (server keys)")
    return await send_webhook(
        job.config,
        job.message,
        sent_at=utcnow(),  # the wall clock: receivers refuse stale or future stamps
        allow_private=settings.notifications_allow_private_targets,
        timeout_seconds=settings.notifications_webhook_timeout_seconds,
    )


def event_message(event: Event) -> WebhookMessage:
    event_type = EventType(event.type)
    return WebhookMessage(
        message_id=f"evt_{event.id}",
        type=event.type,
        occurred_at=event.created_at,
        data={
            "event_id": event.id,
            "severity": SEVERITY[event_type].value,
            "bot_id": str(event.bot_id) if event.bot_id else None,
            "message": event.message,
            "data": event.data or {},
        },
    )


async def deliver_due(
    database: Database,
    keyring: KeyRing,
    settings: Settings,
    *,
    now: datetime,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> int:
    """One pass over the rows due at ``now``; how many were delivered."""
    async with database.session_scope() as session:
        jobs, telegram_jobs = await _claim_jobs(session, keyring, now, policy)
    if not jobs and not telegram_jobs:
        return 0
    limit = asyncio.Semaphore(policy.concurrency)

    async def send(job: Job) -> SendOutcome:
        async with limit:
            return await send_job(job, settings)

    outcomes, telegram_outcomes = await asyncio.gather(
        asyncio.gather(*(send(job) for job in jobs)), telegram.send_jobs(settings, telegram_jobs)
    )
    sent: list[tuple[list[outbox.Claim], SendOutcome]] = [
        ([job.claim], outcome) for job, outcome in zip(jobs, outcomes, strict=True)
    ]
    sent += [(t.claims, o) for t, o in zip(telegram_jobs, telegram_outcomes, strict=True)]
    async with database.session_scope() as session:
        for claims, outcome in sent:
            await _record(session, claims, outcome, now, policy)
    return sum(len(claims) for claims, outcome in sent if outcome.ok)


async def _claim_jobs(
    session: AsyncSession, keyring: KeyRing, now: datetime, policy: DeliveryPolicy
) -> tuple[list[Job], list[telegram.TelegramJob]]:
    claims = await outbox.claim_due(
        session, now=now, lease_until=now + policy.lease, limit=policy.batch
    )
    events = await outbox.events_by_id(session, {claim.event_id for claim in claims})
    channels = await outbox.channels_by_id(session, {claim.channel_id for claim in claims})
    jobs: list[Job] = []
    telegram_claims: list[outbox.Claim] = []
    for claim in claims:
        event, channel = events.get(claim.event_id), channels.get(claim.channel_id)
        if event is None or channel is None:  # deleted since (cascade removes the row too)
            continue
        if channel.kind == TELEGRAM_KIND:
            telegram_claims.append(claim)
        else:
            config = _config_of(keyring, channel)
            jobs.append(Job(claim, channel.kind, config, event_message(event)))
    bots = {events[claim.event_id].bot_id for claim in telegram_claims}
    names = await outbox.bot_names(session, {bot_id for bot_id in bots if bot_id is not None})
    return jobs, telegram.build_jobs(telegram_claims, events, channels, names, keyring)


def _config_of(
    keyring: KeyRing, channel: NotificationChannel
) -> WebhookConfig | AppriseConfig | None:
    try:
        if channel.kind in apprise_channels.KINDS:
            return open_apprise(keyring, channel.id, channel.user_id, channel.config_ciphertext)
        return open_webhook(keyring, channel.id, channel.user_id, channel.config_ciphertext)
    except CredentialCryptoError as error:
        logger.error(
            "notification channel cannot be decrypted channel_id=%s: %s", channel.id, error
        )
        return None


async def _record(
    session: AsyncSession,
    claims: list[outbox.Claim],
    outcome: SendOutcome,
    now: datetime,
    policy: DeliveryPolicy,
) -> None:
    """The outcome of one message: one webhook request, or one Telegram message carrying
    several events (all of one channel), each event logged as its own attempt."""
    channel = await outbox.lock_channel(session, claims[0].channel_id)
    if channel is None:  # deleted while we were sending: its rows and log went with it
        return
    for claim in claims:
        repository.add_delivery(
            session,
            NotificationDelivery(
                channel_id=claim.channel_id,
                event_id=claim.event_id,
                message_id=f"evt_{claim.event_id}",
                attempt=claim.attempt,
                ok=outcome.ok,
                status_code=outcome.status_code,
                error=outcome.error,
                created_at=now,
            ),
        )
    if outcome.ok:
        for claim in claims:
            await outbox.mark_delivered(session, claim.outbox_id, now)
        channel.consecutive_failures = 0
        return
    if outcome.retry_after is not None:  # flood control: later, neither a failure nor dropped
        retry_at = now + timedelta(seconds=outcome.retry_after)
        for claim in claims:
            await outbox.postpone(session, claim.outbox_id, error=outcome.error, retry_at=retry_at)
        return
    for claim in claims:
        await _mark_failed(session, claim, outcome, now, policy)
    channel.consecutive_failures += 1
    if channel.state == "active" and channel.consecutive_failures >= policy.disable_after:
        _disable(session, channel, now)
    await session.flush()


async def _mark_failed(
    session: AsyncSession,
    claim: outbox.Claim,
    outcome: SendOutcome,
    now: datetime,
    policy: DeliveryPolicy,
) -> None:
    exhausted = claim.attempt >= policy.max_attempts
    retry_at = None if exhausted else now + policy.retry_delay(claim.attempt)
    if exhausted:
        logger.warning(
            "notification given up outbox_id=%s channel_id=%s attempts=%d",
            claim.outbox_id,
            claim.channel_id,
            claim.attempt,
        )
    await outbox.mark_failed_attempt(
        session, claim.outbox_id, error=outcome.error or "failed", retry_at=retry_at
    )


def _disable(session: AsyncSession, channel: NotificationChannel, now: datetime) -> None:
    reason = f"disabled after {channel.consecutive_failures} failed deliveries in a row"
    channel.state = "disabled"
    channel.disabled_reason = reason
    record_event(
        session,
        user_id=channel.user_id,
        bot_id=None,
        type=EventType.NOTIFICATION_CHANNEL_DISABLED,
        message=f"notification channel {channel.label!r} {reason}",
        at=now,
        data={"channel_id": str(channel.id), "label": channel.label},
    )
    logger.warning("notification channel disabled channel_id=%s: %s", channel.id, reason)
