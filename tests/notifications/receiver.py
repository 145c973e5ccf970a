"""A local webhook receiver that verifies every request with the ``standardwebhooks`` library,
as a real receiver would: ``async with WebhookReceiver(secret) as receiver: receiver.url``.

It records each request (headers, body, whether the signature verified) and answers with the
status the test sets (``answer_with``), 204 by default.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.local_server import bound_port, serve_locally


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any | None

    def json(self) -> dict[str, Any]:
        """The payload as the JSON object every webhook of ours is."""
        assert isinstance(self.payload, dict), self.payload
        return self.payload


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.secret: str | None = None
        self.requests: list[ReceivedRequest] = []
        self.status = 204
        # When set, each request is recorded, announced on ``arrived`` and left unanswered until
        # ``hold`` is set: a sender can be killed while it waits for the answer.
        self.hold: asyncio.Event | None = None
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/autogrid"

    def answer_with(self, status: int) -> None:
        self.status = status

    def verified_ids(self) -> list[str]:
        """The webhook-id of every request whose signature verified, in arrival order."""
        return [request.headers["webhook-id"] for request in self.requests if request.verified]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        verified, payload = False, None
        if self.secret is not None:
            try:
                payload = Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                payload = json.loads(body) if body else None
        self.requests.append(ReceivedRequest(request.path, headers, body, verified, payload))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.status)

    def acted_on(self) -> list[str]:
        """What a receiver deduplicating on webhook-id would have acted on: each id once."""
        return list(dict.fromkeys(self.verified_ids()))

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
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
