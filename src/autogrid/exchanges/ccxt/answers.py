"""What an exchange's answer to an order create (or cancel) means, one table per exchange.

For a request that left the process, only the exchange's own documentation can say whether it
was executed. Three meanings matter:

- ``UNKNOWN``: it may have been executed (no answer at all, a 5xx or a gateway's 408 timeout, a
  code documented as "execution status unknown"): the order is resolved by its client order id,
  never sent again blindly;
- ``RATE_LIMITED`` / ``CLOCK_SKEW``: refused, nothing executed, for a reason that passes (wait the
  Retry-After; resynchronise the clock): the intent is placed again under a new client order id;
- ``ANSWERED``: any other answer in the 4xx range, to be read from its ccxt class (rejected,
  insufficient funds, duplicate client id, bad key); on an exchange whose documentation says
  4xx means "not executed" (``client_errors_refuse``), an unrecognised one is a rejection too.

Binance spot (developers.binance.com/docs/binance-spot-api-docs/rest-api/http-return-codes,
limits and errors): "HTTP 4XX return codes are used for malformed requests; the issue is on the
sender's side"; 429 "when breaking a request rate limit" and 418 "when an IP has been auto-banned
for continuing to send requests after receiving 429 codes", both with a Retry-After header; 403
when a WAF rule (a rate limit or a security block) is violated; "HTTP 5XX ... It is important to
NOT treat this as a failure operation; the execution status is UNKNOWN and could have been a
success". Codes: -1003 TOO_MANY_REQUESTS and -1015 TOO_MANY_ORDERS (sent with 429), -1021
INVALID_TIMESTAMP (outside recvWindow), and -1000, -1001, -1006, -1007 whose execution status is
unknown. ccxt files some of these under classes that would mislead (-1015 as InvalidOrder,
-1021 as BadRequest or InvalidNonce, -1007 as BadResponse), hence a table keyed on the answer.

Every other exchange gets ``CONSERVATIVE``: only ccxt's definitive classes are answers, and
everything else, rate limits included, stays unknown and is resolved by client order id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CreateAnswer(StrEnum):
    UNKNOWN = "unknown"
    RATE_LIMITED = "rate_limited"
    CLOCK_SKEW = "clock_skew"
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class AnswerTable:
    """One exchange's documented meanings. ``code`` is the exchange's error code as a string."""

    exchange: str
    rate_limit_statuses: frozenset[int] = frozenset()
    rate_limit_codes: frozenset[str] = frozenset()
    clock_codes: frozenset[str] = frozenset()
    unknown_codes: frozenset[str] = frozenset()
    # 4xx statuses that still leave the outcome open (a gateway's 408 timeout, say).
    unknown_statuses: frozenset[int] = frozenset({408})
    # The documentation says a 4xx answer means the request was not executed.
    client_errors_refuse: bool = False

    def create_answer(self, status: int | None, code: str | None) -> CreateAnswer:
        """The meaning of the HTTP ``status`` and error ``code`` a sent create came back with."""
        if status is None or status >= 500 or status in self.unknown_statuses:
            return CreateAnswer.UNKNOWN  # no answer (timeout, dropped connection), or a 5xx
        if code in self.unknown_codes:
            return CreateAnswer.UNKNOWN  # documented "execution status unknown"
        if status < 400:
            return CreateAnswer.UNKNOWN  # a 2xx/3xx that failed to parse: it may have worked
        if status in self.rate_limit_statuses or code in self.rate_limit_codes:
            return CreateAnswer.RATE_LIMITED
        if code in self.clock_codes:
            return CreateAnswer.CLOCK_SKEW
        return CreateAnswer.ANSWERED


BINANCE = AnswerTable(
    exchange="binance",
    rate_limit_statuses=frozenset({403, 418, 429}),
    rate_limit_codes=frozenset({"-1003", "-1015"}),
    clock_codes=frozenset({"-1021"}),
    unknown_codes=frozenset({"-1000", "-1001", "-1006", "-1007"}),
    client_errors_refuse=True,
)
CONSERVATIVE = AnswerTable(exchange="*")

ANSWER_TABLES: dict[str, AnswerTable] = {"binance": BINANCE}


def table_for(exchange_id: str) -> AnswerTable:
    return ANSWER_TABLES.get(exchange_id, CONSERVATIVE)
