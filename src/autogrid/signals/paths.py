"""Which request paths are the signal entry, for the request guard (size cap, raw body)."""

from __future__ import annotations

SIGNALS_PATH = "/api/v1/signals/"
PARSE_PATH = "/api/v1/signals/parse"
# The dry run wraps a signal in JSON: room for the wrapper around a body at the cap.
PARSE_OVERHEAD_BYTES = 1024


def is_signal_entry(path: str) -> bool:
    """``POST /api/v1/signals/{token}``: its route stores the body as received, even malformed."""
    rest = path.removeprefix(SIGNALS_PATH)
    return rest != path and "/" not in rest and rest != "parse" and not rest.isdigit()


def signal_body_limits(max_body_bytes: int) -> dict[str, int]:
    # First match wins: the dry run before the entry's prefix.
    return {PARSE_PATH: max_body_bytes + PARSE_OVERHEAD_BYTES, SIGNALS_PATH: max_body_bytes}
