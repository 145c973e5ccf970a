"""Sending a delivery pass's Telegram rows: one message per chat, paced under Telegram's limits.

The outbox (``notifications.delivery``) claims rows for every kind of channel alike; the rows
of one Telegram channel become one job whose text lists their events (``formatting.py``), so a
chat receives at most one message per pass (passes are 2 s apart: under the 1 message a second
per chat that Telegram allows). Jobs are sent one after another, at most ``GLOBAL_PER_SECOND``
(Telegram allows about 30 a second to different chats). A 429 answer carries ``retry_after``:
the job's rows are postponed by that long, not counted as a failed attempt, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telegram import Bot

from autogrid.core.config import Settings
from autogrid.credentials.crypto import CredentialCryptoError, KeyRing
from autogrid.models import Event, NotificationChannel
from autogrid.notifications import outbox_repository as outbox
from autogrid.notifications.secrets import open_telegram
from autogrid.notifications.telegram.client import TelegramNotConfigured, open_bot, send_text
from autogrid.notifications.telegram.formatting import EventLine, render
from autogrid.notifications.webhooks import SendOutcome

logger = logging.getLogger(__name__)

GLOBAL_PER_SECOND = 25


@dataclass(frozen=True, slots=True)
class TelegramJob:
    claims: list[outbox.Claim]
    chat_id: int | None  # None: not linked, or the config cannot be decrypted
    text: str


def build_jobs(
    claims: Sequence[outbox.Claim],
    events: Mapping[int, Event],
    channels: Mapping[uuid.UUID, NotificationChannel],
    bot_names: Mapping[uuid.UUID, str],
    keyring: KeyRing,
) -> list[TelegramJob]:
    """One job per channel, its events in id order."""
    by_channel: dict[uuid.UUID, list[outbox.Claim]] = {}
    for claim in claims:
        by_channel.setdefault(claim.channel_id, []).append(claim)
    jobs = []
    for channel_id, mine in by_channel.items():
        lines = [
            EventLine(event.id, event.type, event.bot_id, event.message)
            for event in (events[claim.event_id] for claim in mine)
        ]
        jobs.append(
            TelegramJob(mine, _chat_of(keyring, channels[channel_id]), render(lines, bot_names))
        )
    return jobs


def _chat_of(keyring: KeyRing, channel: NotificationChannel) -> int | None:
    try:
        return open_telegram(
            keyring, channel.id, channel.user_id, channel.config_ciphertext
        ).chat_id
    except CredentialCryptoError as error:
        logger.error("telegram channel cannot be decrypted channel_id=%s: %s", channel.id, error)
        return None


async def send_jobs(settings: Settings, jobs: Sequence[TelegramJob]) -> list[SendOutcome]:
    if not jobs:
        return []
    try:
        async with open_bot(settings) as bot:
            return await _paced(bot, jobs)
    except TelegramNotConfigured:
        return [SendOutcome(False, None, "Telegram is not configured on this server")] * len(jobs)
    except Exception as error:  # getMe failed: nothing was sent
        logger.warning("telegram unavailable: %s", type(error).__name__)
        return [
            SendOutcome(False, None, f"could not reach Telegram ({type(error).__name__})")
        ] * len(jobs)


async def _paced(bot: Bot, jobs: Sequence[TelegramJob]) -> list[SendOutcome]:
    loop = asyncio.get_running_loop()
    spacing = 1 / GLOBAL_PER_SECOND
    next_slot = loop.time()
    outcomes = []
    for job in jobs:
        if job.chat_id is None:
            outcomes.append(SendOutcome(False, None, "the chat cannot be read (server keys)"))
            continue
        await asyncio.sleep(max(0.0, next_slot - loop.time()))
        next_slot = loop.time() + spacing
        outcomes.append(await send_text(bot, job.chat_id, job.text))
    return outcomes
