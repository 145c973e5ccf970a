"""Translate every ccxt exception into our hierarchy (see RELIABILITY.md, "ccxt error classes").

The decision depends on what was being done:

- a read (``READ``): definitive errors map by class, network trouble and 5xx are temporary (the
  caller may retry), anything else is fatal;
- an order create or cancel (``CREATE``/``CANCEL``): once a request has left the process, what
  the answer means comes from the exchange's own table (answers.py): a refusal the exchange
  documents as "not executed" is ``RateLimited``/``ClockSkew`` (placed again under a new client
  order id), a definitive answer maps by class, and anything else (network errors, bad or empty
  responses, 5xx, *and* any error we do not recognise) is ``OrderOutcomeUnknown``: the order may
  exist. The order manager resolves it by client order id; nothing here ever retries a create.

Messages are scrubbed (signed URLs, keys, the credential's own strings) before they are stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import ccxt

from autogrid.exchanges import errors as ours
from autogrid.exchanges.ccxt.answers import CreateAnswer, table_for
from autogrid.exchanges.scrub import scrub_message

# Binance answers a repeated newClientOrderId with -2010 "Duplicate order sent.", which ccxt
# files under the generic InvalidOrder. The distinction matters: the twin may be our own order.
_DUPLICATE_ORDER_TEXTS = ("Duplicate order sent",)


class Operation(StrEnum):
    READ = "read"
    CREATE = "create"
    CANCEL = "cancel"


@dataclass(slots=True)
class HttpTrace:
    """What one connector call's HTTP traffic looked like; filled by the ccxt hooks.

    ``requests_sent`` tells "nothing left the process" (safe to treat a failed create as not
    placed) from "a request went out" (the exchange may have acted on it).
    """

    requests_sent: int = 0
    status: int | None = None
    retry_after: float | None = None
    # The exchange's own error code from an error answer's body (Binance: {"code": -1021, ...}).
    code: str | None = None


# An exchange's error answer is a few hundred bytes. Anything longer is not one (a proxy's page,
# a misbehaving endpoint), and parsing it would cost the worker time and memory on every answer.
MAX_ERROR_BODY_CHARS = 4096


def parse_error_code(body: object) -> str | None:
    """``code`` from a JSON error body like Binance's ``{"code": -1021, "msg": "..."}``."""
    if not isinstance(body, str) or len(body) > MAX_ERROR_BODY_CHARS:
        return None
    if not body.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return str(code) if isinstance(code, int | str) and not isinstance(code, bool) else None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (we ignore the rare HTTP-date form)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _definitive(
    error: BaseException, operation: Operation, message: str
) -> ours.ExchangeError | None:
    """The exchange's own, final answer, or None when the error is not one."""
    if isinstance(error, ccxt.DuplicateOrderId) or (
        isinstance(error, ccxt.InvalidOrder)
        and any(text in str(error) for text in _DUPLICATE_ORDER_TEXTS)
    ):
        if operation is Operation.CREATE:
            return ours.DuplicateClientOrderId(message)
        return ours.OrderRejected(message)
    if isinstance(error, ccxt.OrderNotFound):
        return ours.OrderNotFound(message)
    if isinstance(error, ccxt.InsufficientFunds):
        return ours.InsufficientFunds(message)
    if isinstance(error, ccxt.AuthenticationError):  # PermissionDenied, AccountSuspended, ...
        return ours.AuthenticationFailed(message)
    if isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.OperationRejected):
        return ours.OrderRejected(message)
    return None


def is_rate_limit(error: BaseException, trace: HttpTrace | None) -> bool:
    if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return True
    return trace is not None and trace.status in (418, 429)


def _is_temporary(error: BaseException, trace: HttpTrace | None) -> bool:
    # OperationFailed is ccxt's parent of NetworkError, BadResponse/NullResponse and CancelPending,
    # and Binance's -1000/-1001/-1006 "unknown error, execution status unknown" land on it too.
    if isinstance(error, ccxt.OperationFailed | TimeoutError):
        return True
    return trace is not None and trace.status is not None and trace.status >= 500


def map_ccxt_error(
    error: BaseException,
    operation: Operation,
    *,
    trace: HttpTrace | None = None,
    secrets: Iterable[str] = (),
    context: str = "",
    exchange: str = "",
) -> ours.ExchangeError:
    """Our exception for ``error``; our own exceptions (e.g. from the budget) pass through.
    ``exchange`` picks the table of documented answers (answers.py) for sent creates/cancels."""
    if isinstance(error, ours.ExchangeError):
        return error
    prefix = f"{context}: " if context else ""
    message = scrub_message(f"{prefix}{type(error).__name__}: {error}", secrets)
    retry_after = trace.retry_after if trace else None
    definitive = _definitive(error, operation, message)

    sent = trace is None or trace.requests_sent > 0
    if operation is not Operation.READ and sent:
        return _sent_order_answer(error, definitive, message, trace, exchange)

    if definitive is not None:
        return definitive
    if is_rate_limit(error, trace):
        return ours.RateLimited(message, retry_after=retry_after)
    if is_clock_skew(error, trace, exchange):
        return ours.ClockSkew(message)
    if _is_temporary(error, trace):
        return ours.TemporaryExchangeError(message, retry_after=retry_after)
    return ours.FatalExchangeError(message)


def _sent_order_answer(
    error: BaseException,
    definitive: ours.ExchangeError | None,
    message: str,
    trace: HttpTrace | None,
    exchange: str,
) -> ours.ExchangeError:
    """A create or cancel that left the process: what the exchange's answer means."""
    table = table_for(exchange)
    answer = (
        table.create_answer(trace.status, trace.code)
        if trace is not None
        else CreateAnswer.UNKNOWN  # no trace: we cannot know what came back
    )
    if answer is CreateAnswer.RATE_LIMITED:
        return ours.RateLimited(message, retry_after=trace.retry_after if trace else None)
    if answer is CreateAnswer.CLOCK_SKEW:
        return ours.ClockSkew(message)
    if answer is CreateAnswer.ANSWERED:
        if definitive is not None:
            return definitive
        if table.client_errors_refuse:
            # Documented: a 4xx is the sender's issue, nothing was executed.
            return ours.OrderRejected(message)
    return ours.OrderOutcomeUnknown(message)


def is_clock_skew(error: BaseException, trace: HttpTrace | None = None, exchange: str = "") -> bool:
    """Binance -1021 and friends: our clock is off; resynchronising it fixes the next request."""
    if isinstance(error, ccxt.InvalidNonce) and not isinstance(error, ccxt.ChecksumError):
        return True  # (ccxt files its order-book checksum errors under InvalidNonce)
    return trace is not None and trace.code in table_for(exchange).clock_codes
