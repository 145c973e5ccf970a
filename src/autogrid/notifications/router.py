"""/api/v1/notifications: a user's notification channels, their subscriptions and delivery log."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response, status

from autogrid.api.deps import SessionDep, SettingsDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import Page, PageDep
from autogrid.core.ratelimit import RateLimiterDep, enforce_rate_limit
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.dependencies import KeyRingDep
from autogrid.events.types import EventType
from autogrid.notifications import service, summary
from autogrid.notifications.schemas import (
    AppriseChannelCreate,
    ChannelCreate,
    ChannelCreated,
    ChannelRead,
    ChannelUpdate,
    DeliveryRead,
    PreferencesRead,
    PreferencesUpdate,
    SeverityRead,
    TelegramChannelCreate,
    TelegramChannelCreated,
    TelegramLinkRead,
    TestResult,
    channel_read,
)
from autogrid.notifications.severity import DEFAULT_EVENT_TYPES, SEVERITY
from autogrid.notifications.telegram.linking import LinkInvite

router = APIRouter(prefix="/notifications", tags=["notifications"])

# Each test is an outbound request from our servers: bounded per user.
TESTS_PER_HOUR = 30


def _responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": ErrorResponse, "description": text} for code, text in descriptions.items()
    }


async def limit_tests(user: CurrentUser, limiter: RateLimiterDep) -> None:
    await enforce_rate_limit(
        limiter,
        f"notification-test:{user.id}",
        TESTS_PER_HOUR,
        3600,
        "too many test messages; try again later",
    )


@router.get("/event-types", response_model=list[SeverityRead])
async def list_event_types(user: CurrentUser) -> list[SeverityRead]:
    """Every event type with its severity, and whether new channels subscribe to it."""
    return [
        SeverityRead(event_type=t, severity=SEVERITY[t], default=t in DEFAULT_EVENT_TYPES)
        for t in EventType
    ]


@router.post(
    "/channels",
    response_model=ChannelCreated | TelegramChannelCreated | ChannelRead,
    status_code=status.HTTP_201_CREATED,
    responses=_responses(
        {
            404: "A bot in the subscription is not yours",
            409: "Label already used, channel limit reached, or Telegram not configured",
            422: "Invalid input, or a URL the platform will not call",
        }
    ),
)
async def create_channel(
    body: ChannelCreate,
    user: CurrentUser,
    session: SessionDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
) -> ChannelCreated | TelegramChannelCreated | ChannelRead:
    """Create a webhook channel (the answer holds its signing secret, shown only this once), a
    Telegram channel (the answer holds the one-time link that connects your chat), or an email,
    Discord or Slack channel (sent by apprise)."""
    if isinstance(body, AppriseChannelCreate):
        view = await service.create_apprise_channel(session, keyring, settings, user.id, body)
        return channel_read(view.channel, view.bot_ids)
    if isinstance(body, TelegramChannelCreate):
        view, invite = await service.create_telegram_channel(
            session, keyring, settings, user.id, body
        )
        read = channel_read(view.channel, view.bot_ids)
        return TelegramChannelCreated(**read.model_dump(), link=_link_read(invite))
    view, signing_secret = await service.create_webhook_channel(
        session, keyring, settings, user.id, body
    )
    read = channel_read(view.channel, view.bot_ids)
    return ChannelCreated(**read.model_dump(), signing_secret=signing_secret)


@router.post(
    "/channels/{channel_id}/telegram-link",
    response_model=TelegramLinkRead,
    responses=_responses({409: "Not a Telegram channel, or Telegram is not configured"}),
)
async def renew_telegram_link(
    channel_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> TelegramLinkRead:
    """A new one-time link for a Telegram channel (the previous code stops working)."""
    return _link_read(await service.renew_telegram_link(session, settings, user.id, channel_id))


def _link_read(invite: LinkInvite) -> TelegramLinkRead:
    return TelegramLinkRead(code=invite.code, url=invite.url, expires_at=invite.expires_at)


@router.get("/channels", response_model=Page[ChannelRead])
async def list_channels(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[ChannelRead]:
    """List your notification channels, oldest first."""
    views, total = await service.list_channels(session, user.id, page)
    return Page[ChannelRead](
        items=[channel_read(view.channel, view.bot_ids) for view in views],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/channels/{channel_id}", response_model=ChannelRead)
async def get_channel(channel_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ChannelRead:
    """Show one channel (its destination masked, its secrets never)."""
    view = await service.view_channel(session, user.id, channel_id)
    return channel_read(view.channel, view.bot_ids)


@router.patch(
    "/channels/{channel_id}",
    response_model=ChannelRead,
    responses=_responses({404: "A bot in the subscription is not yours", 409: "Label used"}),
)
async def update_channel(
    channel_id: uuid.UUID, body: ChannelUpdate, user: CurrentUser, session: SessionDep
) -> ChannelRead:
    """Rename a channel, change its subscription, or switch it off or on again."""
    view = await service.update_channel(session, user.id, channel_id, body)
    return channel_read(view.channel, view.bot_ids)


@router.delete(
    "/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_channel(channel_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Delete a channel and its delivery log."""
    await service.delete_channel(session, user.id, channel_id)


@router.post(
    "/channels/{channel_id}/test",
    response_model=TestResult,
    responses=_responses(
        {429: "Too many test messages", 500: "Stored destination cannot be decrypted"}
    ),
    dependencies=[Depends(limit_tests)],
)
async def test_channel(
    channel_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
) -> TestResult:
    """Send a signed test message now; the answer says whether the receiver took it."""
    return await service.send_test(session, keyring, settings, user.id, channel_id)


@router.get("/channels/{channel_id}/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    channel_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[DeliveryRead]:
    """A channel's delivery attempts, newest first, with their errors."""
    rows, total = await service.list_deliveries(session, user.id, channel_id, page)
    return Page[DeliveryRead](
        items=[DeliveryRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/preferences", response_model=PreferencesRead)
async def get_preferences(user: CurrentUser, session: SessionDep) -> PreferencesRead:
    """Your time zone and the local hour of your daily summary."""
    chosen = await summary.get_preferences(session, user.id)
    return PreferencesRead(timezone=chosen.timezone, daily_summary_hour=chosen.hour)


@router.put(
    "/preferences",
    response_model=PreferencesRead,
    responses=_responses({422: "Unknown time zone or hour out of range"}),
)
async def set_preferences(
    body: PreferencesUpdate, user: CurrentUser, session: SessionDep
) -> PreferencesRead:
    """Set your time zone and the local hour of your daily summary."""
    wanted = summary.SummaryTime(body.timezone, body.daily_summary_hour)
    chosen = await summary.set_preferences(session, user.id, wanted, utcnow())
    return PreferencesRead(timezone=chosen.timezone, daily_summary_hour=chosen.hour)
