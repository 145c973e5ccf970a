"""Headers the outer layers set on a response replace the app's own of the same name."""

from __future__ import annotations

from starlette.types import Message

from autogrid.core.asgi_headers import set_response_headers


def test_set_headers_replace_those_of_the_same_name_and_keep_the_rest() -> None:
    message: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"X-Request-ID", b"from-the-app")],
    }
    set_response_headers(message, {"X-Request-ID": "abc", "RateLimit-Limit": "10"})
    assert message["headers"] == [
        (b"content-type", b"application/json"),
        (b"x-request-id", b"abc"),
        (b"ratelimit-limit", b"10"),
    ]


def test_a_message_without_headers_gets_them() -> None:
    message: Message = {"type": "http.response.start", "status": 204}
    set_response_headers(message, {"Retry-After": "3"})
    assert message["headers"] == [(b"retry-after", b"3")]
