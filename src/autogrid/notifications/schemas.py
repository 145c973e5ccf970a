"""Request and response bodies of /notifications.

A webhook URL comes in as ``SecretStr`` (it may carry credentials) and never goes out: answers
show ``target_masked``. The signing secret is returned once, in the answer that created it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from autogrid.events.types import EventType
from autogrid.models import NotificationChannel
from autogrid.notifications.severity import DEFAULT_EVENT_TYPES, Severity, effective_types
from autogrid.notifications.targets import MAX_URL_CHARS

MAX_BOTS_PER_CHANNEL = 100

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    TELEGRAM = "telegram"
    EMAIL = "email"  # the three sent by apprise (apprise_channels.py)
    DISCORD = "discord"
    SLACK = "slack"


class ChannelState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # by its owner, or after repeated delivery failures
    PENDING = "pending"  # a Telegram channel waiting for its chat to send /start <code>


class Subscription(BaseModel):
    """What a channel receives: these event types, at or above the minimum severity, from these
    bots (``bot_ids`` null: every bot, and account-level events)."""

    model_config = ConfigDict(extra="forbid")

    event_types: list[EventType] = Field(
        default_factory=lambda: list(DEFAULT_EVENT_TYPES), min_length=1, max_length=len(EventType)
    )
    bot_ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_BOTS_PER_CHANNEL)
    min_severity: Severity = Severity.INFO


class WebhookChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[ChannelKind.WEBHOOK]
    label: Label
    url: SecretStr = Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="https URL the events are POSTed to (a public address unless "
        "NOTIFICATIONS_ALLOW_PRIVATE_TARGETS allows http and private ones)",
    )
    subscription: Subscription = Field(default_factory=Subscription)


class TelegramChannelCreate(BaseModel):
    """A channel to a Telegram chat of yours: the answer holds a one-time deep link; opening it
    (or sending ``/start <code>`` to the bot) links the chat."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[ChannelKind.TELEGRAM]
    label: Label
    subscription: Subscription = Field(default_factory=Subscription)


class AppriseChannelCreate(BaseModel):
    """An email, Discord or Slack channel, sent by the apprise library. ``url`` is an apprise
    URL: ``mailtos://user:password@smtp.example.com?to=you@example.com``,
    ``https://discord.com/api/webhooks/<id>/<token>`` (or ``discord://<id>/<token>``),
    ``https://hooks.slack.com/services/<A>/<B>/<C>`` (or ``slack://<A>/<B>/<C>``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[ChannelKind.EMAIL, ChannelKind.DISCORD, ChannelKind.SLACK]
    label: Label
    url: SecretStr = Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="apprise URL of the kind; the host it connects to must be public and the "
        "connection encrypted unless NOTIFICATIONS_ALLOW_PRIVATE_TARGETS allows otherwise",
    )
    subscription: Subscription = Field(default_factory=Subscription)


ChannelCreate = Annotated[
    WebhookChannelCreate | TelegramChannelCreate | AppriseChannelCreate,
    Field(discriminator="kind"),
]


class TelegramLinkRead(BaseModel):
    code: str = Field(description="one-time code; send /start <code> to the bot")
    url: str = Field(description="deep link https://t.me/<bot>?start=<code> that does it")
    expires_at: datetime


class ChannelUpdate(BaseModel):
    """Rename, change the subscription, or switch the channel on or off (switching it on again
    clears its failure count)."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    subscription: Subscription | None = None
    enabled: bool | None = None


class SubscriptionRead(BaseModel):
    event_types: list[EventType]
    bot_ids: list[uuid.UUID] | None
    min_severity: Severity
    effective_event_types: list[EventType] = Field(
        description="the chosen types at or above min_severity: what is actually sent"
    )


class ChannelRead(BaseModel):
    id: uuid.UUID
    kind: ChannelKind
    label: str
    state: ChannelState
    target_masked: str = Field(description="scheme and host only; the full URL is never shown")
    subscription: SubscriptionRead
    consecutive_failures: int
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class ChannelCreated(ChannelRead):
    signing_secret: str = Field(
        description="Standard Webhooks secret (whsec_...) to verify signatures; shown only once"
    )


class TelegramChannelCreated(ChannelRead):
    link: TelegramLinkRead = Field(description="how to link the chat; valid once, briefly")


class TestResult(BaseModel):
    ok: bool
    message_id: str = Field(description="the webhook-id header sent (an id, for Telegram)")
    status_code: int | None = Field(description="the receiver's HTTP status, if it answered")
    error: str | None


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int | None = Field(description="null for a test message")
    message_id: str
    attempt: int
    ok: bool
    status_code: int | None
    error: str | None
    created_at: datetime


class SeverityRead(BaseModel):
    event_type: EventType
    severity: Severity
    default: bool = Field(description="a new channel subscribes to it unless told otherwise")


def channel_read(channel: NotificationChannel, bot_ids: list[uuid.UUID]) -> ChannelRead:
    chosen = [EventType(value) for value in channel.event_types]
    min_severity = Severity(channel.min_severity)
    return ChannelRead(
        id=channel.id,
        kind=ChannelKind(channel.kind),
        label=channel.label,
        state=ChannelState(channel.state),
        target_masked=channel.target_masked,
        subscription=SubscriptionRead(
            event_types=chosen,
            bot_ids=None if channel.all_bots else bot_ids,
            min_severity=min_severity,
            effective_event_types=effective_types(chosen, min_severity),
        ),
        consecutive_failures=channel.consecutive_failures,
        disabled_reason=channel.disabled_reason,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


class PreferencesRead(BaseModel):
    timezone: str = Field(description="IANA time zone the daily summary's hour is in")
    daily_summary_hour: int = Field(
        description="local hour (0-23) the daily summary is sent, to the channels that "
        "subscribe to daily_summary"
    )


class PreferencesUpdate(BaseModel):
    # Strict: an hour sent as true or "9" is refused, as the schema says, not coerced.
    model_config = ConfigDict(extra="forbid", strict=True)

    timezone: str = Field(min_length=1, max_length=64, examples=["Europe/Paris"])
    daily_summary_hour: int = Field(ge=0, le=23)
