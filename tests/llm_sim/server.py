"""LlmSimulator: an OpenAI-compatible chat-completions server over real HTTP.

``POST /v1/chat/completions`` with ``Authorization: Bearer <key>``; point a client's base URL at
``sim.base_url``. It runs in a thread of its own (its own event loop), so synchronous property
tests and async tests can both drive a real client against it.

What it answers is picked by the request's ``model`` (so concurrent tests never share a script):
- a name returned by ``sim.answer(content)``: a completion whose message content is ``content``;
- a name returned by ``sim.raw(body, status)``: that very HTTP body, labelled JSON;
- ``"refuse"``: a completion with a ``refusal`` and no content, as OpenAI's structured outputs do;
- ``"cut"``: a completion stopped at its length limit;
- ``"json-object-only:<name>"``: 400 to a ``json_schema`` response format (as servers without
  structured outputs answer), then the scripted answer of ``<name>`` to ``json_object``;
- ``"rate-limited"``: 429 with ``Retry-After: 7``; ``"broken"``: 500;
- ``"slow"``: no answer until the simulator stops; ``"oversized"``: a 1 MiB completion
  (``"oversized-chunked"``: the same in chunks, without a Content-Length);
- ``"not-a-completion"``: 200 with a JSON body that is not a completion; ``"garbage-json"`` and
  ``"garbage-html"``: 200 with an HTML body, labelled JSON or HTML (a proxy's error page).
A wrong or missing key gets 401 with OpenAI's error body, whose message (worse than OpenAI's,
which masks it) quotes the key it was given: a client must never relay that text.
Every request is kept in ``sim.requests`` (parsed JSON body, ``authorization`` and
``accept_encoding`` headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from tests.local_server import bound_port, serve_locally

DEFAULT_KEY = "sk-sim-0123456789abcdefSECRETkey"


def _error(status: int, message: str, kind: str, code: str | None, **headers: str) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def completion(
    model: str, content: str | None, *, refusal: str | None = None, finish_reason: str = "stop"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-sim",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class LlmSimulator:
    def __init__(self, key: str = DEFAULT_KEY) -> None:
        self.key = key
        self.port = 0
        self.requests: list[dict[str, Any]] = []
        self._answers: dict[str, str] = {}
        self._raw: dict[str, tuple[int, str]] = {}
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, content: str) -> str:
        """Script an answer; the model name that gets it."""
        name = f"sim-{next(self._names)}"
        with self._lock:
            self._answers[name] = content
        return name

    def raw(self, body: str, status: int = 200) -> str:
        """Script a whole HTTP body (labelled JSON) instead of a completion; the model name."""
        name = f"raw-{next(self._names)}"
        with self._lock:
            self._raw[name] = (status, body)
        return name

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["body"].get("model") == model]

    # ------------------------------------------------------------------ protocol
    async def _completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "We could not parse the JSON body.", "invalid_request_error", None)
        with self._lock:
            self.requests.append(
                {
                    "body": body,
                    "authorization": request.headers.get("Authorization"),
                    "accept_encoding": request.headers.get("Accept-Encoding"),
                }
            )
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if given != self.key:
            return _error(
                401,
                f"Incorrect API key provided: {given}. You can find your API key in your account.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if body.get("model") == "oversized-chunked":
            return await self._chunked(request)
        return await self._scripted(body)

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        """A 1 MiB completion sent in chunks without a Content-Length: only counting the bytes
        as they arrive can stop it."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"id": "chatcmpl-sim", "choices": [{"message": {"content": "')
        with contextlib.suppress(ConnectionError):
            for _ in range(64):
                await response.write(b"x" * 16384)
            await response.write(b'"}}]}')
            await response.write_eof()
        return response

    async def _scripted(self, body: dict[str, Any]) -> web.Response:
        model = str(body.get("model"))
        response_format = (body.get("response_format") or {}).get("type")
        if model.startswith("json-object-only:"):
            if response_format == "json_schema":
                return _error(
                    400,
                    "Invalid parameter: 'response_format' of type 'json_schema' is not supported "
                    "with this model.",
                    "invalid_request_error",
                    None,
                )
            model = model.split(":", 1)[1]
        if model == "rate-limited":
            return _error(
                429,
                "Rate limit reached for requests.",
                "requests",
                "rate_limit_exceeded",
                **{"Retry-After": "7"},
            )
        if model == "broken":
            return _error(
                500, "The server had an error while processing your request.", "server_error", None
            )
        if model == "slow":
            assert self._release is not None
            await self._release.wait()
            return _error(503, "shutting down", "server_error", None)
        if model == "oversized":
            return web.json_response(completion(model, "x" * (1024 * 1024)))
        if model in {"garbage-json", "garbage-html"}:
            kind = "application/json" if model == "garbage-json" else "text/html"
            return web.Response(text="<html>Bad gateway</html>", content_type=kind)
        if model == "not-a-completion":
            return web.json_response({"hello": "world"})
        if model == "refuse":
            return web.json_response(completion(model, None, refusal="I can't help with that."))
        if model == "cut":
            return web.json_response(completion(model, '{"signal": {"act', finish_reason="length"))
        with self._lock:
            raw = self._raw.get(model)
            content = self._answers.get(model)
        if raw is not None:
            return web.Response(status=raw[0], text=raw[1], content_type="application/json")
        if content is None:
            return _error(
                404,
                f"The model `{model}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        return web.json_response(completion(model, content))

    # ------------------------------------------------------------------ lifecycle
    async def _serve(self, started: threading.Event, stop: asyncio.Event) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        runner = await serve_locally(app)
        self.port = bound_port(runner)
        self._release = asyncio.Event()
        started.set()
        await stop.wait()
        self._release.set()
        await runner.cleanup()

    @contextmanager
    def running(self) -> Iterator[LlmSimulator]:
        started = threading.Event()
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        thread = threading.Thread(
            target=loop.run_until_complete, args=(self._serve(started, stop),), daemon=True
        )
        thread.start()
        if not started.wait(timeout=30):
            raise RuntimeError("the language-model simulator did not start")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=30)
            loop.close()
