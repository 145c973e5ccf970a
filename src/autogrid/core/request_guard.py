"""The input guard: every request's size and shape are checked before any route or model runs.

* A body larger than the limit is refused with 413 before it is read in full: at once when its
  Content-Length says so, else as soon as the streamed (chunked) bytes pass the limit.
* A JSON body that is not JSON, or that is far larger in keys, items or depth than any request
  model, is refused with 422 before validation (see ``json_shape``).
* A NUL character anywhere in the path, the query, a form or a JSON string is refused with 422:
  PostgreSQL text cannot hold it, and it would otherwise surface as a 500 from the database.

Every refusal is rendered in the API's one error shape. The guard buffers the (bounded) body and
hands the route an identical copy, so routes and FastAPI's own parsing are unchanged.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autogrid.core.errors import error_json, validation_error_json
from autogrid.core.json_shape import NUL, ShapeProblem, json_shape_problem

_METHODS_WITHOUT_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        larger_limits: Mapping[str, int] | None = None,
        raw_body: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Path prefix -> limit, for the rare route that takes a larger (or a smaller) body; the
        # first matching prefix wins.
        self.larger_limits = dict(larger_limits or {})
        # Paths whose route reads the body as raw bytes and judges it itself (the trading signal
        # entry stores even a malformed body with its outcome): only the size limit applies.
        self.raw_body = raw_body or (lambda _path: False)

    def body_limit(self, path: str) -> int:
        for prefix, limit in self.larger_limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if problem := _url_problem(scope):
            await _refuse_invalid(scope, send, problem)
            return
        limit = self.body_limit(scope["path"])
        try:
            body = await _read_body(scope, receive, limit)
        except BodyTooLarge as exc:
            await _refuse_too_large(scope, send, exc.limit)
            return
        if body and not self.raw_body(scope["path"]) and (problem := _body_problem(scope, body)):
            await _refuse_invalid(scope, send, problem)
            return
        await self.app(scope, _replay(body, receive), send)


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = _declared_length(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    if declared == 0 or (declared is None and scope.get("method") in _METHODS_WITHOUT_BODY):
        return b""
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away; let the app see the disconnect as it would have.
            break
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, only a disconnect can come: wait for it like the server would.
        return await receive()

    return replay


def _url_problem(scope: Scope) -> ShapeProblem | None:
    if NUL in scope.get("path", ""):
        return ShapeProblem(("path",), "must not contain a NUL character", "string_nul_character")
    raw_query: bytes = scope.get("query_string", b"")
    if b"%00" in raw_query or b"\x00" in raw_query:
        return _form_problem(raw_query, "query")
    return None


def _form_problem(raw: bytes, where: str) -> ShapeProblem | None:
    text = raw.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
        if NUL in name or NUL in value:
            field = name.replace(NUL, "\\u0000")
            return ShapeProblem(
                (where, field), "must not contain a NUL character", "string_nul_character"
            )
    return None


def _media_type(scope: Scope) -> tuple[str, str] | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == b"content-type":
            message = email.message.Message()
            message["content-type"] = value.decode("latin-1")
            return message.get_content_maintype(), message.get_content_subtype()
    return None


def _body_problem(scope: Scope, body: bytes) -> ShapeProblem | None:
    media = _media_type(scope)
    if media is None:
        # FastAPI parses nothing without a content type (the body then fails validation as such).
        return None
    if media[0] == "application" and _is_json(media[1]):
        return _json_problem(body)
    if media == ("application", "x-www-form-urlencoded"):
        return _form_problem(body, "body")
    if media[0] == "multipart" and b"\x00" in body:
        # No route takes files: a NUL byte in a multipart form is a NUL in one of its fields.
        return ShapeProblem(("body",), "must not contain a NUL character", "string_nul_character")
    return None


def _is_json(subtype: str) -> bool:
    return subtype == "json" or subtype.endswith("+json")


def _json_problem(body: bytes) -> ShapeProblem | None:
    try:
        value: Any = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes not UTF-8
        position = getattr(exc, "pos", 0)
        return ShapeProblem(("body", position), "JSON decode error", "json_invalid")
    except RecursionError:
        return ShapeProblem(("body",), "nested too deeply", "too_deep")
    problem = json_shape_problem(value)
    if problem is None:
        return None
    return ShapeProblem(("body", *problem.loc), problem.msg, problem.type)


async def _refuse_invalid(scope: Scope, send: Send, problem: ShapeProblem) -> None:
    details = [{"loc": list(problem.loc), "msg": problem.msg, "type": problem.type}]
    response = validation_error_json(Request(scope), details)
    await response(scope, _no_body, send)


async def _refuse_too_large(scope: Scope, send: Send, limit: int) -> None:
    response = error_json(
        Request(scope),
        413,
        "payload_too_large",
        f"request body is larger than {limit} bytes",
        {"limit": limit},
        # The rest of the body is not read: the connection cannot carry another request.
        {"Connection": "close"},
    )
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
