"""Handling one update of the platform's bot, however it arrived (webhook or polling).

Each update is handled in one transaction that first records its ``update_id``
(``telegram_updates``): an update delivered twice (Telegram retrying a webhook, a poller that
restarted before confirming its offset) finds its id taken and does nothing, so a /pause or a
confirmed /stop acts once. What the bot says back is sent after the commit, with the bot
commands for the runtime; a crash between the two loses the reply, never repeats the action.

A chat that is not linked gets instructions only: no command runs and nothing about any
account is said.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Update

from autogrid.bots.dispatch import BotCommand, BotDispatcher
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import KeyRing
from autogrid.models import User
from autogrid.notifications.telegram import commands, repository
from autogrid.notifications.telegram.client import Buttons, keyboard, send_text
from autogrid.notifications.telegram.linking import LinkResult, chat_lookup, link_chat

logger = logging.getLogger(__name__)

NOT_LINKED = (
    "This chat is not linked to an AutoGrid account. In AutoGrid, create a Telegram "
    "notification channel and open the link it gives you (or send /start <code> here)."
)
LINKED = "Linked: this chat now receives the events of channel {label!r}. /help lists commands."
INVALID_CODE = "This link code is unknown, used or expired. Ask AutoGrid for a new link."
CHAT_TAKEN = "This chat is already linked to an AutoGrid channel; delete that channel first."


@dataclass(slots=True)
class Reply:
    """What the bot says back, after the commit."""

    chat_id: int
    text: str
    buttons: Buttons | None = None
    edit_message_id: int | None = None  # edit this message (a confirmation) instead of sending
    callback_query_id: str | None = None  # answer this button press
    commands: list[BotCommand] = field(default_factory=list)


async def handle_update(
    database: Database,
    keyring: KeyRing,
    settings: Settings,
    bot: Bot,
    dispatcher: BotDispatcher,
    payload: dict[str, Any],
) -> bool:
    """Handle one update once; False when it was handled before (nothing is done again)."""
    update = Update.de_json(payload, bot)
    now = utcnow()
    async with database.session_scope() as session:
        if not await repository.remember_update(session, update.update_id, now):
            return False
        reply = await _answer(session, keyring, settings, update, now)
    if reply is not None:
        await _send(bot, reply)
        for command in reply.commands:
            await _dispatch(dispatcher, command)
    return True


async def _answer(
    session: AsyncSession, keyring: KeyRing, settings: Settings, update: Update, now: datetime
) -> Reply | None:
    if update.callback_query is not None:
        return await _pressed(session, settings, update, now)
    message = update.message
    if message is None or not message.text or message.chat.type != "private":
        return None  # edits, channel posts, groups: the bot talks in private chats only
    chat_id = message.chat.id
    words = message.text.split() or [""]
    command = words[0].lstrip("/").split("@", 1)[0].lower() if words[0].startswith("/") else ""
    if command == "start" and len(words) > 1:
        return await _link(session, keyring, settings, chat_id, words[1], now)
    user = await _linked_user(session, settings, chat_id)
    if user is None:
        return Reply(chat_id, NOT_LINKED)
    answer = await commands.run(session, user, command, words[1:], now)
    return Reply(chat_id, answer.text, answer.buttons, commands=answer.commands)


async def _link(
    session: AsyncSession,
    keyring: KeyRing,
    settings: Settings,
    chat_id: int,
    code: str,
    now: datetime,
) -> Reply:
    result, channel = await link_chat(session, keyring, settings, code, chat_id, now)
    if result is LinkResult.LINKED and channel is not None:
        logger.info("telegram chat linked channel_id=%s user_id=%s", channel.id, channel.user_id)
        return Reply(chat_id, LINKED.format(label=channel.label))
    return Reply(chat_id, CHAT_TAKEN if result is LinkResult.CHAT_TAKEN else INVALID_CODE)


async def _pressed(
    session: AsyncSession, settings: Settings, update: Update, now: datetime
) -> Reply | None:
    query = update.callback_query
    assert query is not None
    message = query.message
    if message is None:
        return None
    chat_id = message.chat.id
    user = await _linked_user(session, settings, chat_id)
    data = query.data or ""
    if user is None:
        return Reply(chat_id, NOT_LINKED, callback_query_id=query.id)
    if data.startswith(commands.STOP_PREFIX):
        try:
            bot_id = uuid.UUID(data.removeprefix(commands.STOP_PREFIX))
        except ValueError:
            return Reply(chat_id, "Unknown button.", callback_query_id=query.id)
        answer = await commands.confirm_stop(session, user, bot_id)
    else:
        answer = commands.Answer("Cancelled: nothing was changed.")
    return Reply(
        chat_id,
        answer.text,
        edit_message_id=message.message_id,
        callback_query_id=query.id,
        commands=answer.commands,
    )


async def _linked_user(session: AsyncSession, settings: Settings, chat_id: int) -> User | None:
    channel = await repository.channel_by_chat(session, chat_lookup(settings, chat_id))
    if channel is None:
        return None
    return await session.get(User, channel.user_id)


async def _send(bot: Bot, reply: Reply) -> None:
    try:
        if reply.callback_query_id is not None:
            await bot.answer_callback_query(reply.callback_query_id, text=reply.text[:200])
        if reply.edit_message_id is not None:
            await bot.edit_message_text(
                reply.text,
                chat_id=reply.chat_id,
                message_id=reply.edit_message_id,
                reply_markup=keyboard(reply.buttons),
            )
            return
    except Exception as error:  # the action is committed; a lost reply is only a lost reply
        logger.warning("telegram reply failed: %s", type(error).__name__)
        return
    outcome = await send_text(bot, reply.chat_id, reply.text, reply.buttons)
    if not outcome.ok:
        logger.warning("telegram reply not sent: %s", outcome.error)


async def _dispatch(dispatcher: BotDispatcher, command: BotCommand) -> None:
    try:
        await dispatcher.dispatch(command)
    except Exception:
        # The row already says what should happen; the runtime's sweep picks it up.
        logger.exception("bot command %s for bot %s was not sent", command.kind, command.bot_id)
