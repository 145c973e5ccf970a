"""Binance's request security: API key header, HMAC-SHA256 signature, timestamp and recvWindow.

Binance signs ``totalParams`` = the raw query string concatenated with the raw request body, both
exactly as sent (percent-encoding included), without the ``signature`` parameter. We verify the
same bytes so a client that encodes differently from what it signs fails here as it would live.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl

from tests.exchange_sim import errors
from tests.exchange_sim.accounts import Account

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
# Binance refuses a timestamp this far (or more) ahead of its own clock.
MAX_AHEAD_MS = 1000


class Security(Enum):
    """Binance's endpoint security types that need a key (NONE endpoints skip this module)."""

    USER_DATA = "USER_DATA"  # needs enableReading
    TRADE = "TRADE"  # needs enableSpotAndMarginTrading


def strip_signature(raw: str) -> tuple[str, str | None]:
    """The raw parameter string without ``signature=...`` and the signature it carried."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    account: Account
    params: dict[str, str]


def parse_params(raw_query: str, raw_body: str) -> dict[str, str]:
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    params.update(parse_qsl(raw_body, keep_blank_values=True))
    return params


def authenticate(
    accounts: dict[str, Account],
    api_key: str | None,
    remote: str | None,
    raw_query: str,
    raw_body: str,
    now_ms: int,
    security: Security,
) -> SignedRequest:
    """Check a SIGNED request the way Binance does; raise the BinanceError it would send."""
    if not api_key:
        raise errors.bad_api_key_format()
    account = accounts.get(api_key)
    if account is None or not account.allows_ip(remote):
        raise errors.rejected_api_key()
    query, query_signature = strip_signature(raw_query)
    body, body_signature = strip_signature(raw_body)
    signature = query_signature or body_signature
    params = parse_params(query, body)
    if not params.get("timestamp"):
        raise errors.mandatory("timestamp")
    if not signature:
        raise errors.mandatory("signature")
    recv_window = _int_param(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
    if recv_window > MAX_RECV_WINDOW_MS:
        raise errors.recv_window_too_large()
    expected = sign(account.secret, query + body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise errors.bad_signature()
    timestamp = _int_param(params, "timestamp", 0)
    if timestamp >= now_ms + MAX_AHEAD_MS:
        raise errors.timestamp_ahead()
    if now_ms - timestamp > recv_window:
        raise errors.timestamp_outside_recv_window()
    permissions = account.permissions
    allowed = (
        permissions.enable_spot_and_margin_trading
        if security is Security.TRADE
        else permissions.enable_reading
    )
    if not allowed:
        raise errors.rejected_api_key()
    return SignedRequest(account, params)


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.illegal_value(name) from None
