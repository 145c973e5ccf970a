from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.types import Message

from autogrid.core.config import Settings
from autogrid.observability import configure_logging
from autogrid.observability.middleware import RequestContextMiddleware, incoming_or_new_request_id

UUID_HEX = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_stream(app: FastAPI, settings: Settings) -> Iterator[io.StringIO]:
    """JSON log lines of everything the app logs during the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    debug_json = settings.model_copy(update={"log_json": True, "log_level": "DEBUG"})
    configure_logging(debug_json, stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def _access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [entry for entry in entries if entry["logger"] == "autogrid.access"]


async def test_a_request_id_is_generated_when_none_is_given(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    assert UUID_HEX.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_a_sane_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "edge-proxy.42_A-b"})
    assert response.headers["X-Request-ID"] == "edge-proxy.42_A-b"


@pytest.mark.parametrize(
    "incoming", ["has space", "x" * 129, "semi;colon", "new\u00e9line", "<script>", ""]
)
async def test_an_insane_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get(
        "/health", headers=[(b"x-request-id", incoming.encode("latin-1", "replace"))]
    )
    assert UUID_HEX.fullmatch(response.headers["X-Request-ID"])


def test_request_id_validation_boundaries() -> None:
    assert incoming_or_new_request_id(b"a" * 128) == "a" * 128
    assert incoming_or_new_request_id(b"a" * 129) != "a" * 129
    assert UUID_HEX.fullmatch(incoming_or_new_request_id(None))


async def test_unknown_routes_carry_the_request_id_in_header_and_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.json()["error"]["request_id"] == "abc-123"


async def test_one_access_line_per_request_without_query_or_authorization(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl"
    response = await client.get(
        "/no/such/route?password=hunter2hunter2&signature=deadbeef42",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "rid-access-1"},
    )
    assert response.status_code == 404

    (line,) = _access_lines(log_stream)
    assert line["method"] == "GET"
    assert line["route"] == "<unmatched>"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["request_id"] == "rid-access-1"
    assert line["level"] == "INFO"
    everything = log_stream.getvalue()
    for leaked in ("hunter2hunter2", "deadbeef42", token):
        assert leaked not in everything
    # The raw path is not logged by the server (the test client's own httpx line is excluded).
    server_side = [json.loads(line) for line in everything.splitlines()]
    assert not any(
        "/no/such/route" in json.dumps(entry) for entry in server_side if entry["logger"] != "httpx"
    )


async def test_access_lines_use_the_route_template(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    await client.get("/health")
    (line,) = _access_lines(log_stream)
    assert line["route"] == "/health"
    assert line["status"] == 200
    # Probes are frequent: their successes are logged at DEBUG so INFO stays readable.
    assert line["level"] == "DEBUG"


async def test_log_records_inside_a_request_carry_its_id(
    app: FastAPI, client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    @app.get("/_test/log")
    async def log_something() -> dict[str, str]:
        logging.getLogger("autogrid.test").info("inside the route")
        return {}

    response = await client.get("/_test/log", headers={"X-Request-ID": "inside-1"})
    assert response.status_code == 200
    entries = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    inside = [entry for entry in entries if entry["message"] == "inside the route"]
    assert inside and inside[0]["request_id"] == "inside-1"


async def _drive(app: Any, scope_path: str = "/x") -> list[Message]:
    """Run an ASGI app wrapped in the middleware by hand; return the messages it sent."""
    sent: list[Message] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": scope_path, "headers": []}
    await RequestContextMiddleware(app)(scope, receive, send)
    return sent


def _count(status: str) -> float:
    labels = {"method": "GET", "route": "<unmatched>", "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def test_a_cancelled_request_is_counted_as_499_not_500() -> None:
    async def cancelled(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    before = _count("499")
    with pytest.raises(asyncio.CancelledError):
        await _drive(cancelled)
    assert _count("499") == before + 1


async def test_a_failure_mid_stream_is_re_raised_for_the_server() -> None:
    async def broken_stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("stream broke")

    with pytest.raises(RuntimeError):
        await _drive(broken_stream)


async def test_an_exception_before_any_response_is_re_raised_and_counted_as_500() -> None:
    async def crash(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("no response at all")

    before = _count("500")
    with pytest.raises(RuntimeError):
        await _drive(crash)
    assert _count("500") == before + 1


async def test_the_header_is_added_to_responses_of_the_wrapped_app() -> None:
    async def plain(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b""})

    start, _ = await _drive(plain)
    headers = dict(start["headers"])
    assert headers[b"x-a"] == b"1"
    assert UUID_HEX.fullmatch(headers[b"x-request-id"].decode())
