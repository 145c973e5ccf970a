"""The Bot API client (python-telegram-bot's ``Bot``), pointed at ``TELEGRAM_API_URL``.

Only the ``Bot`` class is used, not the library's ``Application``: updates are handled by our
own webhook route or Celery poller (``updates.py``), whose deduplication and leases the
library's in-process loop and persistence do not provide. A ``Bot`` lives inside one event loop
(each Celery task runs its own), so every use opens one with :func:`open_bot`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
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

_usernames: dict[str, str] = {}


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
    bot = Bot(token_of(settings), base_url=settings.telegram_api_url)
    async with bot:
        yield bot


async def bot_username(settings: Settings) -> str:
    """The bot's @username for deep links, asked once per process and token."""
    token = token_of(settings)
    if token not in _usernames:
        async with open_bot(settings) as bot:
            _usernames[token] = bot.username
    return _usernames[token]


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
