"""Notification channel rules: a user's channels, their subscriptions, test messages.

A channel's URL and signing secret are only stored encrypted (``secrets.py``) and never answered
back, except the signing secret once, when it is made. Every id is checked against its owner:
another user's channel, or a bot that is not the user's, answers 404.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from autogrid.core.config import Settings
from autogrid.core.errors import AppError, Conflict, NotFound
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import CredentialCryptoError, KeyRing
from autogrid.events.types import EventType
from autogrid.models import NotificationChannel, NotificationDelivery
from autogrid.notifications import apprise_channels, repository
from autogrid.notifications.schemas import (
    AppriseChannelCreate,
    ChannelKind,
    ChannelState,
    ChannelUpdate,
    Subscription,
    TelegramChannelCreate,
    TestResult,
    WebhookChannelCreate,
)
from autogrid.notifications.secrets import (
    AppriseConfig,
    TelegramConfig,
    WebhookConfig,
    open_apprise,
    open_telegram,
    open_webhook,
    seal_apprise,
    seal_telegram,
    seal_webhook,
)
from autogrid.notifications.severity import Severity, effective_types
from autogrid.notifications.targets import check_webhook_url, mask_url
from autogrid.notifications.telegram.client import bot_username, open_bot, send_text
from autogrid.notifications.telegram.linking import PENDING_TARGET, LinkInvite, issue_code
from autogrid.notifications.webhooks import (
    SendOutcome,
    WebhookMessage,
    new_signing_secret,
    send_webhook,
)

logger = logging.getLogger(__name__)
_Config = TypeVar("_Config", WebhookConfig, TelegramConfig, AppriseConfig)

MAX_CHANNELS_PER_USER = 20
TEST_EVENT_TYPE = "autogrid.test"
DISABLED_BY_OWNER = "disabled by its owner"
_LABEL_CONSTRAINT = "uq_notification_channels_user_id_label"


class ChannelUnreadable(AppError):
    """The stored destination cannot be decrypted: a server configuration problem."""

    status_code = 500
    code = "channel_unreadable"


@dataclass(frozen=True, slots=True)
class ChannelView:
    channel: NotificationChannel
    bot_ids: list[uuid.UUID]


async def create_webhook_channel(
    session: AsyncSession,
    keyring: KeyRing,
    settings: Settings,
    user_id: uuid.UUID,
    body: WebhookChannelCreate,
) -> tuple[ChannelView, str]:
    """The new channel and its signing secret (which is never shown again)."""
    await _check_room(session, user_id, body.label)
    url = body.url.get_secret_value().strip()
    await check_webhook_url(url, allow_private=settings.notifications_allow_private_targets)
    bot_ids = await _owned_bots(session, user_id, body.subscription)
    channel_id = uuid.uuid4()
    signing_secret = new_signing_secret()
    channel = NotificationChannel(
        id=channel_id,
        user_id=user_id,
        kind=ChannelKind.WEBHOOK.value,
        label=body.label,
        state=ChannelState.ACTIVE.value,
        target_masked=mask_url(url),
        config_ciphertext=seal_webhook(
            keyring, channel_id, user_id, WebhookConfig(url=url, signing_secret=signing_secret)
        ),
        key_version=keyring.newest_key_id,
        consecutive_failures=0,
    )
    return await _insert(session, channel, body.subscription, bot_ids), signing_secret


async def create_apprise_channel(
    session: AsyncSession,
    keyring: KeyRing,
    settings: Settings,
    user_id: uuid.UUID,
    body: AppriseChannelCreate,
) -> ChannelView:
    """An email, Discord or Slack channel, once its URL passed the same checks as a send."""
    await _check_room(session, user_id, body.label)
    url = body.url.get_secret_value().strip()
    await apprise_channels.check_url(body.kind.value, url, settings)
    bot_ids = await _owned_bots(session, user_id, body.subscription)
    channel_id = uuid.uuid4()
    channel = NotificationChannel(
        id=channel_id,
        user_id=user_id,
        kind=body.kind.value,
        label=body.label,
        state=ChannelState.ACTIVE.value,
        target_masked=apprise_channels.mask(body.kind.value, url, settings),
        config_ciphertext=seal_apprise(keyring, channel_id, user_id, AppriseConfig(url=url)),
        key_version=keyring.newest_key_id,
        consecutive_failures=0,
    )
    return await _insert(session, channel, body.subscription, bot_ids)


async def create_telegram_channel(
    session: AsyncSession,
    keyring: KeyRing,
    settings: Settings,
    user_id: uuid.UUID,
    body: TelegramChannelCreate,
) -> tuple[ChannelView, LinkInvite]:
    """A channel waiting for its chat, and the one-time link that connects it."""
    username = await bot_username(settings)  # refuses at once when Telegram is not configured
    await _check_room(session, user_id, body.label)
    bot_ids = await _owned_bots(session, user_id, body.subscription)
    channel_id = uuid.uuid4()
    channel = NotificationChannel(
        id=channel_id,
        user_id=user_id,
        kind=ChannelKind.TELEGRAM.value,
        label=body.label,
        state=ChannelState.PENDING.value,  # the outbox trigger sends to active channels only
        target_masked=PENDING_TARGET,
        config_ciphertext=seal_telegram(keyring, channel_id, user_id, TelegramConfig(None)),
        key_version=keyring.newest_key_id,
        consecutive_failures=0,
    )
    invite = issue_code(channel, username, utcnow(), settings.telegram_link_ttl_seconds)
    return await _insert(session, channel, body.subscription, bot_ids), invite


async def renew_telegram_link(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, channel_id: uuid.UUID
) -> LinkInvite:
    """A new one-time link for a Telegram channel (the old code stops working): to link a chat
    after the first code expired, or to move the channel to another chat."""
    channel = await get_channel(session, user_id, channel_id, lock=True)
    if channel.kind != ChannelKind.TELEGRAM.value:
        raise Conflict("only a Telegram channel is linked to a chat")
    username = await bot_username(settings)
    invite = issue_code(channel, username, utcnow(), settings.telegram_link_ttl_seconds)
    await _flush(session)
    return invite


async def _check_room(session: AsyncSession, user_id: uuid.UUID, label: str) -> None:
    if await repository.count_for_user(session, user_id) >= MAX_CHANNELS_PER_USER:
        raise Conflict(f"you already have {MAX_CHANNELS_PER_USER} notification channels")
    await _ensure_label_free(session, user_id, label)


async def _insert(
    session: AsyncSession,
    channel: NotificationChannel,
    subscription: Subscription,
    bot_ids: set[uuid.UUID],
) -> ChannelView:
    _apply_subscription(channel, subscription)
    session.add(channel)
    await _flush(session)
    await _store_subscription_rows(session, channel, bot_ids)
    await _flush(session)
    logger.info(
        "notification channel created channel_id=%s user_id=%s kind=%s",
        channel.id,
        channel.user_id,
        channel.kind,
    )
    return ChannelView(channel, sorted(bot_ids))


async def list_channels(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[ChannelView], int]:
    channels, total = await repository.list_for_user(session, user_id, page.limit, page.offset)
    bots = await repository.bot_ids_by_channel(session, [channel.id for channel in channels])
    return [ChannelView(channel, bots.get(channel.id, [])) for channel in channels], total


async def get_channel(
    session: AsyncSession, user_id: uuid.UUID, channel_id: uuid.UUID, *, lock: bool = False
) -> NotificationChannel:
    channel = await repository.get_for_user(session, user_id, channel_id, lock=lock)
    if channel is None:
        raise NotFound("notification channel not found")
    return channel


async def view_channel(
    session: AsyncSession, user_id: uuid.UUID, channel_id: uuid.UUID
) -> ChannelView:
    channel = await get_channel(session, user_id, channel_id)
    bots = await repository.bot_ids_by_channel(session, [channel.id])
    return ChannelView(channel, bots.get(channel.id, []))


async def update_channel(
    session: AsyncSession, user_id: uuid.UUID, channel_id: uuid.UUID, body: ChannelUpdate
) -> ChannelView:
    channel = await get_channel(session, user_id, channel_id, lock=True)
    if body.label is not None and body.label != channel.label:
        await _ensure_label_free(session, user_id, body.label, except_id=channel.id)
        channel.label = body.label
    if body.subscription is not None:
        bot_ids = await _owned_bots(session, user_id, body.subscription)
        _apply_subscription(channel, body.subscription)
        await _store_subscription_rows(session, channel, bot_ids)
    if body.enabled is not None and channel.state == ChannelState.PENDING.value:
        raise Conflict("link the Telegram chat first (open the channel's link)")
    if body.enabled is True and channel.state != ChannelState.ACTIVE.value:
        channel.state = ChannelState.ACTIVE.value
        channel.consecutive_failures = 0
        channel.disabled_reason = None
    elif body.enabled is False and channel.state != ChannelState.DISABLED.value:
        channel.state = ChannelState.DISABLED.value
        channel.disabled_reason = DISABLED_BY_OWNER
    await _flush(session)
    return await view_channel(session, user_id, channel_id)


async def delete_channel(session: AsyncSession, user_id: uuid.UUID, channel_id: uuid.UUID) -> None:
    channel = await get_channel(session, user_id, channel_id, lock=True)
    await repository.delete_channel(session, channel.id)
    logger.info("notification channel deleted channel_id=%s user_id=%s", channel.id, user_id)


async def send_test(
    session: AsyncSession,
    keyring: KeyRing,
    settings: Settings,
    user_id: uuid.UUID,
    channel_id: uuid.UUID,
) -> TestResult:
    """Send one signed test message now (whatever the channel's state) and log the attempt."""
    channel = await get_channel(session, user_id, channel_id)
    now = utcnow()
    message = WebhookMessage(
        message_id=f"msg_test_{uuid.uuid4().hex}",
        type=TEST_EVENT_TYPE,
        occurred_at=now,
        data={"channel_id": str(channel.id), "message": "AutoGrid test message"},
    )
    if channel.kind == ChannelKind.TELEGRAM.value:
        outcome = await send_telegram_test(settings, _open_telegram(keyring, channel))
    elif channel.kind in apprise_channels.KINDS:
        outcome = await apprise_channels.send_apprise(
            channel.kind,
            _open_apprise(keyring, channel).url,
            title="AutoGrid test message",
            body=f"This {channel.kind} channel ({channel.label}) receives AutoGrid notifications.",
            settings=settings,
        )
    else:
        outcome = await send_webhook(
            open_config(keyring, channel),
            message,
            sent_at=now,
            allow_private=settings.notifications_allow_private_targets,
            timeout_seconds=settings.notifications_webhook_timeout_seconds,
        )
    repository.add_delivery(
        session,
        NotificationDelivery(
            channel_id=channel.id,
            event_id=None,
            message_id=message.message_id,
            attempt=1,
            ok=outcome.ok,
            status_code=outcome.status_code,
            error=outcome.error,
            created_at=now,
        ),
    )
    await session.flush()
    return TestResult(
        ok=outcome.ok,
        message_id=message.message_id,
        status_code=outcome.status_code,
        error=outcome.error,
    )


async def list_deliveries(
    session: AsyncSession, user_id: uuid.UUID, channel_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[NotificationDelivery], int]:
    channel = await get_channel(session, user_id, channel_id)
    return await repository.deliveries(session, channel.id, limit=page.limit, offset=page.offset)


# ----------------------------------------------------------------------------- helpers


def open_config(keyring: KeyRing, channel: NotificationChannel) -> WebhookConfig:
    return _opened(
        open_webhook,
        keyring,
        channel,
        "this channel's destination cannot be decrypted with the server's current keys; "
        "the operator must restore the missing encryption key, or recreate the channel",
    )


def _open_telegram(keyring: KeyRing, channel: NotificationChannel) -> TelegramConfig:
    return _opened(
        open_telegram,
        keyring,
        channel,
        "this channel's chat cannot be decrypted with the server's current keys",
    )


def _open_apprise(keyring: KeyRing, channel: NotificationChannel) -> AppriseConfig:
    return _opened(
        open_apprise,
        keyring,
        channel,
        "this channel's URL cannot be decrypted with the server's current keys",
    )


def _opened(
    opener: Callable[[KeyRing, uuid.UUID, uuid.UUID, bytes], _Config],
    keyring: KeyRing,
    channel: NotificationChannel,
    unreadable: str,
) -> _Config:
    """``channel``'s configuration decrypted by ``opener``; ``ChannelUnreadable(unreadable)``
    (logged with the cause, which the user never sees) when the keys at hand cannot open it."""
    try:
        return opener(keyring, channel.id, channel.user_id, channel.config_ciphertext)
    except CredentialCryptoError as error:
        logger.error(
            "%s channel cannot be decrypted channel_id=%s: %s", channel.kind, channel.id, error
        )
        raise ChannelUnreadable(unreadable) from None


async def send_telegram_test(settings: Settings, config: TelegramConfig) -> SendOutcome:
    if config.chat_id is None:
        raise Conflict("link the Telegram chat first (open the channel's link)")
    async with open_bot(settings) as bot:
        return await send_text(bot, config.chat_id, "AutoGrid test message: this chat is linked.")


async def _owned_bots(
    session: AsyncSession, user_id: uuid.UUID, subscription: Subscription
) -> set[uuid.UUID]:
    if subscription.bot_ids is None:
        return set()
    wanted = set(subscription.bot_ids)
    if await repository.owned_bot_ids(session, user_id, wanted) != wanted:
        raise NotFound("bot not found")
    return wanted


def _apply_subscription(channel: NotificationChannel, subscription: Subscription) -> None:
    channel.event_types = sorted({event_type.value for event_type in subscription.event_types})
    channel.min_severity = subscription.min_severity.value
    channel.all_bots = subscription.bot_ids is None


async def _store_subscription_rows(
    session: AsyncSession, channel: NotificationChannel, bot_ids: set[uuid.UUID]
) -> None:
    types = effective_types(
        (EventType(value) for value in channel.event_types), Severity(channel.min_severity)
    )
    await repository.replace_subscription_rows(
        session, channel.id, event_types=[t.value for t in types], bot_ids=bot_ids
    )


async def _ensure_label_free(
    session: AsyncSession, user_id: uuid.UUID, label: str, *, except_id: uuid.UUID | None = None
) -> None:
    if await repository.label_taken(session, user_id, label, except_id=except_id):
        raise Conflict("you already have a notification channel with this label")


async def _flush(session: AsyncSession) -> None:
    """Flush, turning a lost race on the label into 409 and on a deleted row into 404."""
    try:
        await session.flush()
    except IntegrityError as error:
        if _LABEL_CONSTRAINT in str(error.orig):
            raise Conflict("you already have a notification channel with this label") from None
        raise
    except StaleDataError:
        raise NotFound("notification channel not found") from None
