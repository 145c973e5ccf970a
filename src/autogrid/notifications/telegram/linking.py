"""Linking a Telegram chat to an account with a one-time code.

The owner creates a Telegram channel; the answer holds a deep link
``https://t.me/<bot>?start=<code>``. Opening it makes Telegram send ``/start <code>`` from the
user's chat, which links that chat to the channel: the chat id goes into the encrypted config,
a keyed hash of it (HMAC-SHA256 under ``JWT_SECRET``) into ``chat_lookup`` so an incoming
update finds its account without decrypting every channel. Only the code's SHA-256 is stored; it
works once and for ``TELEGRAM_LINK_TTL_SECONDS``. A chat belongs to one channel at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.config import Settings
from autogrid.credentials.crypto import KeyRing
from autogrid.models import NotificationChannel
from autogrid.notifications.secrets import TelegramConfig, seal_telegram
from autogrid.notifications.telegram import repository

CODE_BYTES = 16  # 22 url-safe characters; Telegram allows 64 in a start parameter
PENDING_TARGET = "telegram (waiting for /start)"


class LinkResult(StrEnum):
    LINKED = "linked"
    INVALID = "invalid"  # unknown, already used, or expired
    CHAT_TAKEN = "chat_taken"  # this chat is linked to another channel already


@dataclass(frozen=True, slots=True)
class LinkInvite:
    code: str
    url: str
    expires_at: datetime


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def chat_lookup(settings: Settings, chat_id: int) -> str:
    return hmac.new(
        settings.jwt_secret.encode(), f"telegram-chat:{chat_id}".encode(), hashlib.sha256
    ).hexdigest()


def mask_chat(chat_id: int) -> str:
    return f"telegram chat …{str(chat_id)[-2:]}"


def issue_code(channel: NotificationChannel, username: str, now: datetime, ttl: int) -> LinkInvite:
    """A new one-time code for the channel (replacing any earlier one)."""
    code = secrets.token_urlsafe(CODE_BYTES)
    channel.link_code_hash = code_hash(code)
    channel.link_expires_at = now + timedelta(seconds=ttl)
    return LinkInvite(code, f"https://t.me/{username}?start={code}", channel.link_expires_at)


async def link_chat(
    session: AsyncSession,
    keyring: KeyRing,
    settings: Settings,
    code: str,
    chat_id: int,
    now: datetime,
) -> tuple[LinkResult, NotificationChannel | None]:
    channel = await repository.channel_by_code(session, code_hash(code))
    if channel is None:
        return LinkResult.INVALID, None
    if channel.link_expires_at is None or channel.link_expires_at <= now:
        channel.link_code_hash = None  # spent: an expired code never works again
        channel.link_expires_at = None
        return LinkResult.INVALID, None
    lookup = chat_lookup(settings, chat_id)
    holder = await repository.channel_by_chat(session, lookup)
    if holder is not None and holder.id != channel.id:
        return LinkResult.CHAT_TAKEN, None
    channel.config_ciphertext = seal_telegram(
        keyring, channel.id, channel.user_id, TelegramConfig(chat_id)
    )
    channel.key_version = keyring.newest_key_id
    channel.chat_lookup = lookup
    channel.link_code_hash = None
    channel.link_expires_at = None
    channel.target_masked = mask_chat(chat_id)
    channel.state = "active"
    channel.consecutive_failures = 0
    channel.disabled_reason = None
    await session.flush()
    return LinkResult.LINKED, channel
