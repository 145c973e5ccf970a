"""Commands from a linked chat act on that user's bots only: /stop asks first and stops after
the press; the same command or press from another user's chat, or an unlinked one, touches
nothing; a bot is named by its name or an id prefix, and ambiguity is answered, not guessed."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import text

from autogrid.bots.dispatch import BotCommandKind
from autogrid.core.db import Database
from autogrid.models import Bot
from autogrid.notifications.telegram.commands import Refused, resolve
from autogrid.notifications.telegram.updates import NOT_LINKED
from tests.bots.factories import create_bot, grid_body, set_status
from tests.helpers import ApiUser
from tests.notifications.telegram.conftest import RecordingDispatcher, Telegram, linked_channel

pytestmark = pytest.mark.usefixtures("replay_candles")
MINE, THEIRS, STRANGER = 1001, 2002, 3003


async def status_of(client: httpx.AsyncClient, user: ApiUser, bot: dict[str, Any]) -> str:
    answer = await client.get(f"/api/v1/bots/{bot['id']}", headers=user.headers)
    return str(answer.json()["status"])


async def press(telegram: Telegram, chat_id: int, message_id: int, data: str) -> None:
    await telegram.sim.user_presses(chat_id, message_id, data)
    await telegram.poll()


async def test_stop_asks_then_stops_only_the_linked_users_bot(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    db: Database,
    telegram: Telegram,
    dispatcher: RecordingDispatcher,
) -> None:
    bot = await create_bot(client, user, grid_body(name="alpha"))
    await set_status(db, bot["id"], "running")
    await linked_channel(client, user, telegram, MINE)
    await linked_channel(client, other_user, telegram, THEIRS)

    # Another user names the bot, or presses a forged button for it: nothing happens.
    assert await telegram.say(THEIRS, "/stop alpha") == [
        "You have no bot called 'alpha' (see /bots)."
    ]
    await telegram.sim.user_sends(MINE, "/stop alpha")
    await telegram.poll()
    question = telegram.sim.sent[-1]
    assert question.chat_id == MINE and question.text.startswith("Stop alpha")
    assert question.reply_markup is not None
    stop_data = question.reply_markup["inline_keyboard"][0][0]["callback_data"]
    assert stop_data == f"stop:{bot['id']}"
    assert await status_of(client, user, bot) == "running"  # not before the press

    await press(telegram, THEIRS, question.message_id, stop_data)
    await press(telegram, STRANGER, question.message_id, stop_data)
    assert await status_of(client, user, bot) == "running"
    assert dispatcher.commands == []
    assert telegram.sim.sent_to(STRANGER) == [NOT_LINKED]

    await press(telegram, MINE, question.message_id, stop_data)
    assert await status_of(client, user, bot) in ("stopping", "stopped")
    assert [(c.bot_id, c.kind) for c in dispatcher.commands] == [
        (uuid.UUID(bot["id"]), BotCommandKind.STOP)
    ]
    assert telegram.sim.sent_to(MINE)[-1].startswith("Stopping alpha")  # the question, edited
    assert len(telegram.sim.answered) == 3  # every press is answered


async def test_pause_resume_list_and_status_of_ones_own_bots(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    db: Database,
    telegram: Telegram,
) -> None:
    bot = await create_bot(client, user, grid_body(name="alpha"))
    theirs = await create_bot(client, other_user, grid_body(name="secret-bot"))
    await set_status(db, bot["id"], "running")
    await linked_channel(client, user, telegram, MINE)

    [listing] = await telegram.say(MINE, "/bots")
    assert "alpha" in listing and "secret-bot" not in listing and theirs["id"][:8] not in listing
    assert await telegram.say(MINE, f"/pause {bot['id'][:6]}") == ["Paused alpha."]
    assert await status_of(client, user, bot) == "paused"
    assert await telegram.say(MINE, f"/pause {theirs['id'][:8]}") == [
        f"You have no bot called {theirs['id'][:8]!r} (see /bots)."
    ]
    assert await telegram.say(MINE, "/resume ALPHA") == ["Resumed alpha."]
    [status] = await telegram.say(MINE, "/status")
    assert status.startswith("1 bots: 1 running")
    [again] = await telegram.say(MINE, "/resume alpha")
    assert again.startswith("Not done:")
    [profit] = await telegram.say(MINE, "/profit")
    assert profit.startswith("P&L (all time):") and "alpha" in profit
    [help_text] = await telegram.say(MINE, "/help")
    assert "/stop <bot>" in help_text


async def test_an_update_delivered_twice_acts_once(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    telegram: Telegram,
    dispatcher: RecordingDispatcher,
) -> None:
    bot = await create_bot(client, user, grid_body(name="alpha"))
    await set_status(db, bot["id"], "running")
    await linked_channel(client, user, telegram, MINE)
    await telegram.sim.user_sends(MINE, "/pause alpha")
    assert await telegram.poll() == 1
    # As if the poller had died before its offset was stored: Telegram sends it again.
    async with db.session_scope() as session:
        await session.execute(text("UPDATE telegram_poller SET next_offset = 0"))
    assert await telegram.poll() == 0
    assert telegram.sim.sent_to(MINE).count("Paused alpha.") == 1
    assert len(dispatcher.commands) == 1


def test_names_and_id_prefixes_resolve_to_one_bot_or_a_clear_answer() -> None:
    def fake(name: str, hex_id: str) -> Bot:
        return cast("Bot", SimpleNamespace(name=name, id=uuid.UUID(hex_id)))

    a = fake("grid", "aaaa1111" + "0" * 24)
    b = fake("Grid", "aaaa2222" + "0" * 24)
    c = fake("dca", "bbbb1111" + "0" * 24)
    assert resolve([a, c], "GRID") is a
    assert resolve([a, b, c], "aaaa2") is b
    assert resolve([a, b, c], "bbbb") is c
    with pytest.raises(Refused, match="matches several"):
        resolve([a, b, c], "grid")
    with pytest.raises(Refused, match="matches several"):
        resolve([a, b, c], "aaaa")
    with pytest.raises(Refused, match="no bot called"):
        resolve([a, b, c], "aaa")  # too short to be an id prefix
