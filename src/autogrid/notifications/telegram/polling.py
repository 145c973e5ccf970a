"""getUpdates polling for deployments without a public URL (no TELEGRAM_WEBHOOK_SECRET).

Beat runs ``autogrid.notifications.tasks.poll_telegram_updates`` every 2 s; each run is one
short pass. Telegram refuses two concurrent getUpdates (409), so a pass first takes the lease
of the ``telegram_poller`` row (free or expired: one process at a time, on any database); a
second run meanwhile returns at once. The row keeps the next offset: asking getUpdates from it
confirms every update before it at Telegram. An update handled but not yet confirmed (the
process died in between) comes back after a restart and is skipped by ``telegram_updates``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from telegram.error import Conflict, TelegramError

from autogrid.bots.dispatch import BotDispatcher
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.credentials.crypto import KeyRing
from autogrid.notifications.telegram import repository
from autogrid.notifications.telegram.client import open_bot
from autogrid.notifications.telegram.updates import handle_update

logger = logging.getLogger(__name__)

# Longer than a pass can take (a short poll and a batch of updates); a poller that died is
# replaced once it ends.
LEASE = timedelta(seconds=60)
BATCH = 50
ALLOWED_UPDATES = ["message", "callback_query"]


async def poll_once(
    database: Database,
    keyring: KeyRing,
    settings: Settings,
    dispatcher: BotDispatcher,
    *,
    now: datetime,
    wait_seconds: int = 0,
) -> int | None:
    """One pass: how many updates were handled, or None when another process holds the lease."""
    token = uuid.uuid4().hex
    async with database.session_scope() as session:
        offset = await repository.lease_poller(session, token=token, now=now, until=now + LEASE)
    if offset is None:
        return None
    next_offset: int | None = None
    handled = 0
    try:
        async with open_bot(settings) as bot:
            try:
                updates = await bot.get_updates(
                    offset=offset,
                    limit=BATCH,
                    timeout=wait_seconds,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except Conflict:
                logger.error(
                    "telegram: getUpdates refused because a webhook is registered; set "
                    "TELEGRAM_WEBHOOK_SECRET to use it, or delete it (deleteWebhook) to poll"
                )
                return 0
            except TelegramError as error:  # unreachable or refused: the next pass tries again
                logger.warning("telegram: getUpdates failed (%s)", type(error).__name__)
                return 0
            for update in updates:
                try:
                    if await handle_update(
                        database, keyring, settings, bot, dispatcher, update.to_dict()
                    ):
                        handled += 1
                except Exception:
                    # Rolled back, not remembered; confirmed anyway, so one update that cannot
                    # be handled does not block every later one.
                    logger.exception("telegram update %s could not be handled", update.update_id)
                next_offset = update.update_id + 1
    finally:
        async with database.session_scope() as session:
            await repository.release_poller(session, token=token, next_offset=next_offset)
    return handled
