"""Our exchange error hierarchy. The connector translates every ccxt exception into one of these;
retries and the circuit breaker act on these classes, never on ccxt's.

Messages are scrubbed before they are stored here: ccxt embeds signed URLs and response bodies.
"""

from __future__ import annotations

from decimal import Decimal


class ExchangeError(Exception):
    """Base class. ``retryable`` says whether a read may be retried."""

    retryable = False


class TemporaryExchangeError(ExchangeError):
    """Network trouble, timeouts, rate limits, maintenance: retry reads with backoff."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestRefused(TemporaryExchangeError):
    """The request was refused and nothing was executed, for a reason that passes: it may be
    made again after ``retry_after`` seconds (None: at once). Raised when the exchange's own
    documentation says so (see ``ccxt/answers.py``), or when nothing left the process.

    For a create this is not ``OrderRejected``: the order was never placed, and the same intent
    is placed again under a new client order id once the cause allows.
    """


class RateLimited(RequestRefused):
    """429/418 (Binance), or our shared request budget: everyone sharing the key must slow down."""


class ClockSkew(RequestRefused):
    """Binance -1021: the request's timestamp was outside recvWindow. The connector resynchronises
    its clock with the exchange's, so the request can be made again at once."""


class OrderOutcomeUnknown(ExchangeError):
    """A create (or cancel) was sent but we cannot tell whether the exchange acted on it.

    Never retried blindly: the order becomes UNKNOWN and is resolved by its client order id.
    """


class DuplicateClientOrderId(OrderOutcomeUnknown):
    """The exchange refused the create because an order with this client id already exists.

    Not a plain rejection: the twin may be *our* order (a redelivered task, another worker), so
    the caller resolves it by client order id exactly like an unknown outcome.
    """


class OrderRejected(ExchangeError):
    """The exchange definitively refused the order (invalid order, bad symbol, filters)."""


class InsufficientFunds(OrderRejected):
    """The account cannot pay for the order."""


class OrderNotFound(ExchangeError):
    """The exchange does not know the order (right after a create this may be eventual
    consistency: callers resolving UNKNOWN orders apply a grace window)."""


class AuthenticationFailed(ExchangeError):
    """Bad key, revoked key, permission denied, account suspended: a human must act."""


class FatalExchangeError(ExchangeError):
    """Anything else we cannot recover from automatically."""


class MarketRuleViolation(ExchangeError):
    """Our own pre-flight check: the order breaks the market's minimums or precision.

    Raised before anything is sent; the API renders it as 422 with the limit it broke. ``rule``
    names the limit (``min_amount``, ``max_amount``, ``min_cost``, ``min_price``, ``max_price``,
    ``market_active``); ``limit`` and ``value`` are None only for ``market_active``.
    """

    def __init__(
        self, message: str, *, rule: str, limit: Decimal | None, value: Decimal | None
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.limit = limit
        self.value = value
