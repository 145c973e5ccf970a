"""TelegramSimulator: the Bot API methods a notifier and a command bot use, over real HTTP.

Point a Telegram library at ``sim.api_url`` (``https://api.telegram.org/bot`` becomes
``http://127.0.0.1:<port>/bot``). Requests are ``/bot<token>/<method>`` with parameters in the
query string, a form or a JSON body; answers are the Bot API's ``{"ok": true, "result": ...}``
or ``{"ok": false, "error_code": ..., "description": ..., "parameters": ...}``.

Served: getMe, getUpdates (long polling, ``offset`` confirms), deleteWebhook, setMyCommands,
sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery. Tests play the users
(``user_sends``, ``user_presses``) and read what the bot did (``sent``, ``answered``). Faults:
``rate_limit`` makes the next sends answer 429 with ``retry_after``, like Telegram's flood
control; the refused calls are kept in ``refused``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.local_server import bound_port, serve_locally

DEFAULT_TOKEN = "123456:SIMULATED-bot-token-000000000000000"
BOT_USERNAME = "autogrid_sim_bot"
SEND_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup"})


@dataclass
class SentMessage:
    message_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None


@dataclass
class RateLimit:
    chat_id: int | None  # None: any chat (the global limit)
    times: int
    retry_after: int


@dataclass
class Refusal:
    method: str
    chat_id: int | None
    retry_after: int
    at: float


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    answered: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    limits: list[RateLimit] = field(default_factory=list)
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    commands: list[list[dict[str, Any]]] = field(default_factory=list)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


class TelegramSimulator:
    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port = 0
        self.bot_id = int(token.split(":", 1)[0])
        self._state = _State()
        self._ids = itertools.count(1)
        self._new_update = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ what tests read
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The base URL a library takes instead of https://api.telegram.org/bot."""
        return f"{self.url}/bot"

    @property
    def sent(self) -> list[SentMessage]:
        return list(self._state.sent)

    @property
    def answered(self) -> list[dict[str, Any]]:
        return list(self._state.answered)

    @property
    def refused(self) -> list[Refusal]:
        return list(self._state.refused)

    def calls(self, method: str) -> int:
        """How many requests of this Bot API method reached the server."""
        return self._state.calls[method]

    @property
    def menus(self) -> list[list[dict[str, Any]]]:
        """The command lists setMyCommands was given, in order."""
        return list(self._state.commands)

    def sent_to(self, chat_id: int) -> list[str]:
        return [message.text for message in self._state.sent if message.chat_id == chat_id]

    # ------------------------------------------------------------------ users and faults
    async def user_sends(self, chat_id: int, text: str, *, user_id: int | None = None) -> int:
        """A user writes to the bot in their private chat; the update's id."""
        message = self._message(chat_id, text, sender=self._user(user_id or chat_id))
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self._push({"message": message})

    async def user_presses(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> int:
        """A user presses an inline button (callback ``data``) under one of the bot's messages."""
        sent = next(m for m in self._state.sent if m.message_id == message_id)
        query = {
            "id": str(next(self._ids)),
            "from": self._user(user_id or chat_id),
            "message": self._message(chat_id, sent.text, message_id=message_id),
            "chat_instance": str(chat_id),
            "data": data,
        }
        return await self._push({"callback_query": query})

    def rate_limit(
        self, *, times: int = 1, retry_after: int = 1, chat_id: int | None = None
    ) -> None:
        """The next ``times`` sends (to ``chat_id``, or to any chat) answer 429."""
        self._state.limits.append(RateLimit(chat_id, times, retry_after))

    # ------------------------------------------------------------------ protocol
    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}

    def _message(
        self,
        chat_id: int,
        text: str,
        *,
        sender: dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        return {
            "message_id": message_id or next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": sender
            or {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "AutoGrid",
                "username": BOT_USERNAME,
            },
            "text": text,
        }

    async def _push(self, update: dict[str, Any]) -> int:
        async with self._new_update:
            update_id = next(self._ids)
            self._state.updates.append({"update_id": update_id, **update})
            self._new_update.notify_all()
        return update_id

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        for name in ("reply_markup",):  # form posts carry JSON-serialised objects
            if isinstance(params.get(name), str):
                params[name] = json.loads(params[name])
        return params

    def _limited(self, method: str, chat_id: int | None) -> web.Response | None:
        for limit in self._state.limits:
            if limit.times > 0 and limit.chat_id in (None, chat_id):
                limit.times -= 1
                self._state.refused.append(Refusal(method, chat_id, limit.retry_after, time.time()))
                return _error(
                    429,
                    f"Too Many Requests: retry after {limit.retry_after}",
                    retry_after=limit.retry_after,
                )
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        self._state.calls[method] += 1
        params = await self._params(request)
        chat_id = int(params["chat_id"]) if "chat_id" in params else None
        if method in SEND_METHODS:
            refused = self._limited(method, chat_id)
            if refused is not None:
                return refused
        handler = getattr(self, f"_method_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result: web.Response = await handler(params, chat_id)
        return result

    async def _method_getMe(self, params: dict[str, Any], chat_id: int | None) -> web.Response:
        return _ok(
            {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "AutoGrid",
                "username": BOT_USERNAME,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _method_deleteWebhook(
        self, params: dict[str, Any], chat_id: int | None
    ) -> web.Response:
        return _ok(True)

    async def _method_setMyCommands(
        self, params: dict[str, Any], chat_id: int | None
    ) -> web.Response:
        commands = params.get("commands")
        if isinstance(commands, str):  # a form field: the list as JSON text
            commands = json.loads(commands)
        if not isinstance(commands, list):
            return _error(400, "Bad Request: commands must be a list")
        self._state.commands.append(commands)
        return _ok(True)

    async def _method_getUpdates(self, params: dict[str, Any], chat_id: int | None) -> web.Response:
        offset = int(params.get("offset", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        timeout = float(params.get("timeout", 0) or 0)
        async with self._new_update:
            # An offset confirms every update below it: they are never returned again.
            self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
            if not self._state.updates and timeout > 0:
                with contextlib.suppress(TimeoutError):  # an empty answer, as Telegram gives
                    await asyncio.wait_for(self._new_update.wait(), timeout)
            return _ok(self._state.updates[:limit])

    async def _method_sendMessage(
        self, params: dict[str, Any], chat_id: int | None
    ) -> web.Response:
        if chat_id is None or not params.get("text"):
            return _error(400, "Bad Request: chat_id and text are required")
        message = self._message(chat_id, str(params["text"]))
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._state.sent.append(
            SentMessage(
                message["message_id"],
                chat_id,
                message["text"],
                params.get("parse_mode"),
                params.get("reply_markup"),
            )
        )
        return _ok(message)

    async def _method_editMessageText(
        self, params: dict[str, Any], chat_id: int | None
    ) -> web.Response:
        message_id = int(params["message_id"])
        for sent in self._state.sent:
            if sent.message_id == message_id and sent.chat_id == chat_id:
                sent.text = str(params["text"])
                sent.reply_markup = params.get("reply_markup")
                return _ok(self._message(sent.chat_id, sent.text, message_id=message_id))
        return _error(400, "Bad Request: message to edit not found")

    async def _method_editMessageReplyMarkup(
        self, params: dict[str, Any], chat_id: int | None
    ) -> web.Response:
        message_id = int(params["message_id"])
        for sent in self._state.sent:
            if sent.message_id == message_id and sent.chat_id == chat_id:
                sent.reply_markup = params.get("reply_markup")
                return _ok(self._message(sent.chat_id, sent.text, message_id=message_id))
        return _error(400, "Bad Request: message to edit not found")

    async def _method_answerCallbackQuery(
        self, params: dict[str, Any], chat_id: int | None
    ) -> web.Response:
        self._state.answered.append(dict(params))
        return _ok(True)

    # ------------------------------------------------------------------ server
    async def __aenter__(self) -> TelegramSimulator:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = await serve_locally(app, self.host)
        self.port = bound_port(self._runner)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
