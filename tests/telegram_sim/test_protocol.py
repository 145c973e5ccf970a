"""The simulator speaks the Bot API as a client sees it: updates by long polling with confirming
offsets, messages with inline keyboards, callback answers, 429 with retry_after, and 401 for a
wrong token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.telegram_sim import TelegramSimulator


@pytest.fixture
async def sim() -> AsyncIterator[TelegramSimulator]:
    async with TelegramSimulator() as running:
        yield running


async def call(sim: TelegramSimulator, method: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{sim.api_url}{sim.token}/{method}", json=params)


async def test_updates_are_long_polled_and_confirmed_by_offset(sim: TelegramSimulator) -> None:
    poll = asyncio.create_task(call(sim, "getUpdates", offset=0, timeout=20))
    update_id = await sim.user_sends(42, "/start abc123")
    updates = (await poll).json()["result"]
    assert [u["update_id"] for u in updates] == [update_id]
    message = updates[0]["message"]
    assert (message["chat"]["id"], message["text"]) == (42, "/start abc123")
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]

    again = (await call(sim, "getUpdates", offset=update_id)).json()["result"]
    assert [u["update_id"] for u in again] == [update_id]  # not confirmed yet
    confirmed = (await call(sim, "getUpdates", offset=update_id + 1)).json()["result"]
    assert confirmed == []


async def test_a_message_with_a_button_and_the_press_answered(sim: TelegramSimulator) -> None:
    keyboard = {"inline_keyboard": [[{"text": "Stop", "callback_data": "stop:1"}]]}
    sent = (
        await call(sim, "sendMessage", chat_id=42, text="Stop bot 1?", reply_markup=keyboard)
    ).json()
    assert sent["ok"] is True
    message_id = sent["result"]["message_id"]
    assert sim.sent[0].reply_markup == keyboard and sim.sent_to(42) == ["Stop bot 1?"]

    await sim.user_presses(42, message_id, "stop:1")
    [update] = (await call(sim, "getUpdates")).json()["result"]
    query = update["callback_query"]
    assert (query["data"], query["message"]["message_id"]) == ("stop:1", message_id)
    assert (await call(sim, "answerCallbackQuery", callback_query_id=query["id"])).json()["ok"]
    assert sim.answered == [{"callback_query_id": query["id"]}]

    edited = await call(sim, "editMessageText", chat_id=42, message_id=message_id, text="Done")
    assert edited.json()["ok"] and sim.sent_to(42) == ["Done"]


async def test_flood_control_answers_429_with_retry_after(sim: TelegramSimulator) -> None:
    sim.rate_limit(times=1, retry_after=3, chat_id=42)
    refused = await call(sim, "sendMessage", chat_id=42, text="burst")
    assert refused.status_code == 429
    assert refused.json()["parameters"] == {"retry_after": 3}
    assert [(r.method, r.chat_id) for r in sim.refused] == [("sendMessage", 42)]
    assert (await call(sim, "sendMessage", chat_id=7, text="other chat")).json()["ok"]
    assert (await call(sim, "sendMessage", chat_id=42, text="later")).json()["ok"]
    assert sim.sent_to(42) == ["later"]


async def test_a_wrong_token_is_unauthorized(sim: TelegramSimulator) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim.api_url}1:wrong/getMe")
    assert answer.status_code == 401 and answer.json()["ok"] is False
    me = (await call(sim, "getMe")).json()["result"]
    assert me["is_bot"] is True and me["username"] == "autogrid_sim_bot"
