"""Which request paths are the signal entry, for the request guard (size cap, raw body)."""

from __future__ import annotations

from autogrid.signals.tokens import TOKEN_PREFIX

SIGNALS_PATH = "/api/v1/signals/"
PARSE_PATH = "/api/v1/signals/parse"


def is_signal_entry(path: str) -> bool:
    """``POST /api/v1/signals/{token}``: its route stores the body as received, even malformed
    (JSON that is not JSON is an ``unparsable`` signal with its position, not a 422)."""
    rest = path.removeprefix(SIGNALS_PATH)
    return rest != path and rest.startswith(TOKEN_PREFIX) and "/" not in rest


def signal_body_limits(max_signal_bytes: int, max_request_bytes: int) -> dict[str, int]:
    # First match wins: the dry run (an ordinary JSON request) keeps the usual limit.
    return {PARSE_PATH: max_request_bytes, SIGNALS_PATH: max_signal_bytes}
