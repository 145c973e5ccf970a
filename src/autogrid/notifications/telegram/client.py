"""The Bot API client (python-telegram-bot's ``Bot``), pointed at ``TELEGRAM_API_URL``.

Only the ``Bot`` class is used, not the library's ``Application``: updates are handled by our
own webhook route or Celery poller (``updates.py``), whose deduplication and leases the
library's in-process loop and persistence do not provide. A ``Bot`` lives inside one event loop
(each Celery task runs its own), so every use opens one with :func:`open_bot`.

Opening a ``Bot`` asks Telegram ``getMe``, and the command menu is set with ``setMyCommands``:
both once per process and bot (API URL and token), not on every open. A delivery pass every
2 s would otherwise double its calls to Telegram, and count them against the bot's limits.
``PlatformBot`` answers ``get_me`` from that cache after the first answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, User
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from autogrid.core.config import Settings
from autogrid.core.errors import Conflict
from autogrid.notifications.webhooks import SendOutcome
from autogrid.observability import register_secret

# RetryAfter.retry_after becomes a timedelta in the library's next major version; opting in
# now keeps its deprecation warning out of the logs (both forms are read below).
os.environ.setdefault("PTB_TIMEDELTA", "1")

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096  # Telegram's limit for one text message
Buttons = list[list[tuple[str, str]]]  # rows of (label, callback data)

# The menu Telegram clients show for the bot (the commands of ``commands.py``).
MENU = (
    BotCommand("status", "your bots by status"),
    BotCommand("bots", "your bots with their short ids"),
    BotCommand("profit", "P&L per bot: /profit [days]"),
    BotCommand("daily", "P&L per day, last 7 days"),
    BotCommand("balance", "what each bot holds and has made"),
    BotCommand("pause", "pause a running bot: /pause <bot>"),
    BotCommand("resume", "resume a paused bot: /resume <bot>"),
    BotCommand("stop", "stop a bot (asks to confirm): /stop <bot>"),
    BotCommand("help", "what the bot can do"),
)

# Per process, keyed by (API URL, token): the bot's own user as getMe answered it, and whether
# its command menu was set. Plain data (a ``User`` is bound to the ``Bot`` that read it).
_identities: dict[tuple[str, str], dict[str, Any]] = {}
_menus_set: set[tuple[str, str]] = set()


class PlatformBot(Bot):
    """A ``Bot`` whose ``get_me`` (called by ``initialize``) asks Telegram once per process."""

    __slots__ = ()

    async def get_me(self, *args: Any, **kwargs: Any) -> User:
        key = (self.base_url, self.token)
        known = _identities.get(key)
        if known is None:
            me = await super().get_me(*args, **kwargs)
            _identities[key] = me.to_dict()
            return me
        me = User.de_json(known, self)
        self._bot_user = me  # what Bot.get_me stores: ``username`` and ``bot`` read it
        return me


class TelegramNotConfigured(Conflict):
    code = "telegram_not_configured"


def token_of(settings: Settings) -> str:
    if settings.telegram_bot_token is None:
        raise TelegramNotConfigured("Telegram is not configured on this server")
    token = settings.telegram_bot_token.get_secret_value()
    # Every Bot API URL holds the token, and httpx logs the URLs it requests: scrub it.
    register_secret(token)
    return token


@asynccontextmanager
async def open_bot(settings: Settings) -> AsyncIterator[Bot]:
    """An initialised ``Bot`` (its username known) for the duration of the block."""
    bot = PlatformBot(token_of(settings), base_url=settings.telegram_api_url)
    async with bot:
        await _set_menu_once(bot)
        yield bot


async def _set_menu_once(bot: Bot) -> None:
    key = (bot.base_url, bot.token)
    if key in _menus_set:
        return
    try:
        await bot.set_my_commands(MENU)
    except TelegramError as error:  # a menu is a nicety: never a reason not to send
        logger.warning("telegram command menu not set: %s", type(error).__name__)
        return
    _menus_set.add(key)


async def bot_username(settings: Settings) -> str:
    """The bot's @username for deep links (getMe, asked once per process and token)."""
    async with open_bot(settings) as bot:
        return bot.username


def keyboard(buttons: Buttons | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in buttons
        ]
    )


def retry_seconds(error: RetryAfter) -> float:
    value: int | timedelta = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_text(
    bot: Bot, chat_id: int, text: str, buttons: Buttons | None = None
) -> SendOutcome:
    """One message; never raises for a Telegram or network failure (the outcome says it).
    Flood control (429) comes back as ``retry_after``: the caller delays, never drops."""
    try:
        await bot.send_message(chat_id, text[:MAX_MESSAGE_CHARS], reply_markup=keyboard(buttons))
    except RetryAfter as error:
        seconds = retry_seconds(error)
        return SendOutcome(
            False, 429, f"Telegram flood control: retry after {seconds:g} s", retry_after=seconds
        )
    except Forbidden:
        return SendOutcome(False, 403, "Telegram refused: the user blocked the bot or left")
    except TimedOut:
        return SendOutcome(False, None, "Telegram did not answer in time")
    except BadRequest as error:  # Telegram's own description (a chat not found, ...)
        return SendOutcome(False, 400, f"Telegram refused the message: {error.message}")
    except NetworkError as error:
        # Its text may quote the request URL, which holds the bot token: the kind only.
        return SendOutcome(False, None, f"could not reach Telegram ({type(error).__name__})")
    except TelegramError as error:
        return SendOutcome(False, None, f"Telegram refused the message ({type(error).__name__})")
    return SendOutcome(True, 200, None)
