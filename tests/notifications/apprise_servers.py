"""Local servers speaking the protocols apprise sends email, Discord and Slack messages with.

- ``SmtpServer``: a real SMTP server (aiosmtpd) that requires AUTH with one user and password
  and records each accepted message (sender, recipients, parsed MIME message).
- ``ChatWebhookServer``: Discord's ``POST /api/webhooks/<id>/<token>`` (JSON, answers 204) and
  Slack's incoming webhooks ``POST /services/<A>/<B>/<C>`` (JSON, answers 200 ``ok``); an
  unknown token gets the service's own refusal (Discord 401 code 50027, Slack 403
  ``invalid_token``). ``fail_with`` makes it answer an error status, as an outage would.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import json
import socket
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.local_server import bound_port, serve_locally

DISCORD_ID, DISCORD_TOKEN = "112233445566778899", "Tok3n-of-the-d1scord-hook"
SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7")
SMTP_USER, SMTP_PASSWORD = "alerts", "smtp-p4ssw0rd"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage


@dataclass
class SmtpServer:
    """``async with SmtpServer() as smtp: smtp.url_for("to@example.com")``."""

    messages: list[ReceivedMail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _controller: Controller | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def url_for(self, recipient: str, *, password: str = SMTP_PASSWORD) -> str:
        return (
            f"mailto://{SMTP_USER}:{password}@127.0.0.1:{self.port}"
            f"?to={recipient}&from=autogrid@example.com"
        )

    def _authenticate(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        ):
            self.logins.append(SMTP_USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(  # aiosmtpd's handler hook name
        self, server: SMTPProtocol, session: Session, envelope: Envelope
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.arrived.set)
        return "250 Message accepted for delivery"

    async def __aenter__(self) -> SmtpServer:
        self._loop = asyncio.get_running_loop()
        self.port = _free_port()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,  # loopback only; production refuses plain SMTP
        )
        await asyncio.to_thread(self._controller.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)


@dataclass
class ChatPost:
    service: str  # "discord" or "slack"
    path: str
    payload: Any


class ChatWebhookServer:
    def __init__(self) -> None:
        self.port = 0
        self.posts: list[ChatPost] = []
        self.refused: list[str] = []
        self.fail_with: int | None = None
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def discord_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks"

    @property
    def slack_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/services"

    def texts(self, service: str) -> list[str]:
        """Each accepted post of the service as its JSON text, to search for content."""
        return [json.dumps(post.payload) for post in self.posts if post.service == service]

    async def _discord(self, request: web.Request) -> web.Response:
        if (request.match_info["id"], request.match_info["token"]) != (DISCORD_ID, DISCORD_TOKEN):
            self.refused.append(request.path)
            refusal = {"message": "Invalid Webhook Token", "code": 50027}
            return web.json_response(refusal, status=401)
        if self.fail_with is not None:
            return web.json_response({"message": "outage", "code": 0}, status=self.fail_with)
        self._record("discord", request.path, await request.json())
        return web.Response(status=204)

    async def _slack(self, request: web.Request) -> web.Response:
        tokens = (request.match_info["a"], request.match_info["b"], request.match_info["c"])
        if tokens != SLACK_TOKENS:
            self.refused.append(request.path)
            return web.Response(status=403, text="invalid_token")
        if self.fail_with is not None:
            return web.Response(status=self.fail_with, text="service_unavailable")
        self._record("slack", request.path, await request.json())
        return web.Response(status=200, text="ok")

    def _record(self, service: str, path: str, payload: Any) -> None:
        self.posts.append(ChatPost(service, path, payload))
        self.arrived.set()

    async def __aenter__(self) -> ChatWebhookServer:
        app = web.Application()
        app.router.add_post("/api/webhooks/{id}/{token}", self._discord)
        app.router.add_post("/services/{a}/{b}/{c}", self._slack)
        self._runner = await serve_locally(app)
        self.port = bound_port(self._runner)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
