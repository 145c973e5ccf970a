"""Headers added to a response on its way out, by the ASGI layers every request passes."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Message


def set_response_headers(message: Message, headers: Mapping[str, str]) -> None:
    """Set ``headers`` on an ``http.response.start`` message, replacing any of the same names.

    One pass over the message's list: starlette's ``MutableHeaders`` copies the list and scans
    it again for every header set, a cost each layer paid on every response.
    """
    encoded = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    names = {name for name, _ in encoded}
    kept = [pair for pair in message.get("headers", ()) if pair[0].lower() not in names]
    message["headers"] = kept + encoded
