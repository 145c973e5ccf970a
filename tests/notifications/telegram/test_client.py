"""The platform's Bot API client asks Telegram who it is (getMe) and sets its command menu
(setMyCommands) once per process and bot, not every time a delivery pass or a poll opens it."""

from __future__ import annotations

from pydantic import SecretStr

from autogrid.core.config import Settings
from autogrid.notifications.telegram.client import MENU, bot_username, open_bot
from autogrid.notifications.telegram.commands import _HANDLERS
from tests.telegram_sim import TelegramSimulator
from tests.telegram_sim.server import BOT_USERNAME


async def test_get_me_and_the_menu_are_asked_once_per_bot(
    settings: Settings, sim: TelegramSimulator
) -> None:
    for chat_id in (11, 12, 13):
        async with open_bot(settings) as bot:
            assert bot.username == BOT_USERNAME  # known without asking again
            await bot.send_message(chat_id, "hello")
    assert await bot_username(settings) == BOT_USERNAME

    assert sim.calls("getMe") == 1
    assert sim.calls("setMyCommands") == 1
    assert sim.calls("sendMessage") == 3
    [menu] = sim.menus
    assert [entry["command"] for entry in menu] == [command.command for command in MENU]
    assert {command.command for command in MENU} == set(_HANDLERS)  # each one is handled


async def test_another_bot_asks_for_its_own_identity(settings: Settings) -> None:
    async with TelegramSimulator(token="654321:ANOTHER-simulated-bot-token-0000000") as other:
        elsewhere = settings.model_copy(
            update={"telegram_bot_token": SecretStr(other.token), "telegram_api_url": other.api_url}
        )
        for _ in range(2):
            async with open_bot(elsewhere) as bot:
                assert bot.id == other.bot_id
        assert other.calls("getMe") == 1 and other.calls("setMyCommands") == 1
