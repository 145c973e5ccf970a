"""Every ccxt exception class maps to our hierarchy as RELIABILITY.md's table says; a sent create
on Binance means what Binance's own documentation says (answers.py)."""

from __future__ import annotations

import importlib
import inspect

import ccxt
import pytest

from autogrid.exchanges import errors as ours
from autogrid.exchanges.ccxt.answers import BINANCE, CONSERVATIVE, CreateAnswer, table_for
from autogrid.exchanges.ccxt.error_mapping import (
    HttpTrace,
    Operation,
    is_clock_skew,
    map_ccxt_error,
    parse_error_code,
    parse_retry_after,
)

READ, CREATE, CANCEL = Operation.READ, Operation.CREATE, Operation.CANCEL
SENT = HttpTrace(requests_sent=1, status=400)

# (ccxt class, on a read, on a create/cancel that reached the exchange), on an exchange without a
# table of documented answers: only definitive classes are answers, the rest stays unknown.
TABLE: list[tuple[type[Exception], type[ours.ExchangeError], type[ours.ExchangeError]]] = [
    (ccxt.RequestTimeout, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.ExchangeNotAvailable, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.OnMaintenance, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.DDoSProtection, ours.RateLimited, ours.OrderOutcomeUnknown),
    (ccxt.RateLimitExceeded, ours.RateLimited, ours.OrderOutcomeUnknown),
    (ccxt.InvalidNonce, ours.ClockSkew, ours.OrderOutcomeUnknown),
    (ccxt.ChecksumError, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.NetworkError, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.BadResponse, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.NullResponse, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.CancelPending, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.OperationFailed, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.AuthenticationError, ours.AuthenticationFailed, ours.AuthenticationFailed),
    (ccxt.PermissionDenied, ours.AuthenticationFailed, ours.AuthenticationFailed),
    (ccxt.AccountNotEnabled, ours.AuthenticationFailed, ours.AuthenticationFailed),
    (ccxt.AccountSuspended, ours.AuthenticationFailed, ours.AuthenticationFailed),
    (ccxt.InsufficientFunds, ours.InsufficientFunds, ours.InsufficientFunds),
    (ccxt.InvalidOrder, ours.OrderRejected, ours.OrderRejected),
    (ccxt.OrderImmediatelyFillable, ours.OrderRejected, ours.OrderRejected),
    (ccxt.OrderNotFillable, ours.OrderRejected, ours.OrderRejected),
    (ccxt.OrderNotCached, ours.OrderRejected, ours.OrderRejected),
    (ccxt.ContractUnavailable, ours.OrderRejected, ours.OrderRejected),
    (ccxt.BadRequest, ours.OrderRejected, ours.OrderRejected),
    (ccxt.BadSymbol, ours.OrderRejected, ours.OrderRejected),
    (ccxt.OperationRejected, ours.OrderRejected, ours.OrderRejected),
    (ccxt.MarketClosed, ours.OrderRejected, ours.OrderRejected),
    (ccxt.NoChange, ours.OrderRejected, ours.OrderRejected),
    (ccxt.ManualInteractionNeeded, ours.OrderRejected, ours.OrderRejected),
    (ccxt.RestrictedLocation, ours.OrderRejected, ours.OrderRejected),
    (ccxt.MarginModeAlreadySet, ours.OrderRejected, ours.OrderRejected),
    (ccxt.OrderNotFound, ours.OrderNotFound, ours.OrderNotFound),
    # Unrecognised errors: fatal on a read, but an order we sent may exist.
    (ccxt.ExchangeError, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.BaseError, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.NotSupported, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.ArgumentsRequired, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.InvalidAddress, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.AddressPending, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.InvalidProxySettings, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.ExchangeClosedByUser, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.UnsubscribeError, ours.FatalExchangeError, ours.OrderOutcomeUnknown),
]


@pytest.mark.parametrize(("ccxt_class", "on_read", "on_order"), TABLE)
def test_table(ccxt_class: type[Exception], on_read: type, on_order: type) -> None:
    error = ccxt_class("binance something happened")
    assert type(map_ccxt_error(error, READ, trace=SENT)) is on_read
    assert type(map_ccxt_error(error, CREATE, trace=SENT)) is on_order
    assert type(map_ccxt_error(error, CANCEL, trace=SENT)) is on_order


def test_the_table_covers_every_ccxt_exception_class() -> None:
    module = importlib.import_module("ccxt.base.errors")
    classes = {
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, ccxt.BaseError)
    }
    assert classes - {row[0] for row in TABLE} == {ccxt.DuplicateOrderId}


def test_duplicate_client_order_id_is_resolved_not_rejected() -> None:
    """Binance -2010 "Duplicate order sent." arrives as a plain InvalidOrder from ccxt."""
    binance_duplicate = ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}')
    for error in (ccxt.DuplicateOrderId("dup"), binance_duplicate):
        mapped = map_ccxt_error(error, CREATE, trace=SENT)
        assert isinstance(mapped, ours.DuplicateClientOrderId)
        assert isinstance(mapped, ours.OrderOutcomeUnknown)
        assert type(map_ccxt_error(error, READ, trace=SENT)) is ours.OrderRejected


def test_a_5xx_on_create_is_unknown_whatever_ccxt_made_of_the_body() -> None:
    trace = HttpTrace(requests_sent=1, status=503)
    assert type(map_ccxt_error(ccxt.InvalidOrder("x"), CREATE, trace=trace)) is (
        ours.OrderOutcomeUnknown
    )
    assert type(map_ccxt_error(ccxt.ExchangeError("x"), READ, trace=trace)) is (
        ours.TemporaryExchangeError
    )


def test_nothing_sent_means_a_failed_create_is_not_ambiguous() -> None:
    not_sent = HttpTrace(requests_sent=0)
    assert type(map_ccxt_error(TimeoutError(), CREATE, trace=not_sent)) is (
        ours.TemporaryExchangeError
    )
    assert type(map_ccxt_error(ccxt.InvalidOrder("precision"), CREATE, trace=not_sent)) is (
        ours.OrderRejected
    )
    # ...but with no trace at all we cannot know, so we assume it was sent
    assert type(map_ccxt_error(TimeoutError(), CREATE)) is ours.OrderOutcomeUnknown


def test_status_codes_alone_classify_unknown_errors_on_a_read() -> None:
    for status in (418, 429):
        trace = HttpTrace(requests_sent=1, status=status, retry_after=7.0)
        mapped = map_ccxt_error(ccxt.ExchangeError("x"), READ, trace=trace)
        assert isinstance(mapped, ours.RateLimited)
        assert mapped.retry_after == 7.0


def test_retry_after_travels_with_temporary_errors() -> None:
    trace = HttpTrace(requests_sent=1, status=503, retry_after=3.0)
    mapped = map_ccxt_error(ccxt.ExchangeNotAvailable("x"), READ, trace=trace)
    assert isinstance(mapped, ours.TemporaryExchangeError)
    assert mapped.retry_after == 3.0


def test_non_ccxt_errors() -> None:
    assert type(map_ccxt_error(TimeoutError(), READ, trace=SENT)) is ours.TemporaryExchangeError
    assert type(map_ccxt_error(KeyError("x"), READ, trace=SENT)) is ours.FatalExchangeError
    assert type(map_ccxt_error(KeyError("x"), CREATE, trace=SENT)) is ours.OrderOutcomeUnknown
    already_ours = ours.RateLimited("budget", retry_after=1)
    assert map_ccxt_error(already_ours, CREATE, trace=SENT) is already_ours


def test_messages_are_scrubbed_and_prefixed() -> None:
    secret = "S3cr3tS3cr3tS3cr3t"
    error = ccxt.AuthenticationError(
        "binance GET https://api.binance.com/api/v3/account?timestamp=1&recvWindow=5000"
        "&signature=" + "ab" * 32 + f' 401 {{"msg":"bad key {secret}"}}'
    )
    mapped = map_ccxt_error(error, READ, trace=SENT, secrets=[secret], context="binance fetch")
    text = str(mapped)
    assert text.startswith("binance fetch: AuthenticationError: binance GET ")
    assert "https://api.binance.com/api/v3/account?***" in text
    assert secret not in text and "signature" not in text and "ab" * 32 not in text


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 0.5 ", 0.5),
        (None, None),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


# ----------------------------------------------------------------------------- Binance's table

# (HTTP status, Binance code, the class ccxt raised) -> what a sent create means on Binance.
BINANCE_CREATE: list[tuple[int | None, str | None, type[Exception], type[ours.ExchangeError]]] = [
    # "HTTP 429 ... when breaking a request rate limit": refused, wait Retry-After.
    (429, "-1003", ccxt.DDoSProtection, ours.RateLimited),
    (429, "-1003", ccxt.RateLimitExceeded, ours.RateLimited),
    # -1015 TOO_MANY_ORDERS comes with a 429; ccxt calls it InvalidOrder.
    (429, "-1015", ccxt.InvalidOrder, ours.RateLimited),
    (400, "-1015", ccxt.InvalidOrder, ours.RateLimited),
    # 418: IP banned after ignoring 429s; 403: a WAF rule (a rate limit or a block).
    (418, "-1003", ccxt.DDoSProtection, ours.RateLimited),
    (403, None, ccxt.ExchangeNotAvailable, ours.RateLimited),
    # -1021 outside recvWindow: refused; ccxt says InvalidNonce (or BadRequest on api.binance.com).
    (400, "-1021", ccxt.InvalidNonce, ours.ClockSkew),
    (400, "-1021", ccxt.BadRequest, ours.ClockSkew),
    # 5xx: "the execution status is UNKNOWN", whatever the body or ccxt's class says.
    (500, None, ccxt.ExchangeNotAvailable, ours.OrderOutcomeUnknown),
    (503, "-1008", ccxt.OperationFailed, ours.OrderOutcomeUnknown),
    (502, "-2010", ccxt.InsufficientFunds, ours.OrderOutcomeUnknown),
    (504, None, ccxt.RequestTimeout, ours.OrderOutcomeUnknown),
    (429, None, ccxt.DDoSProtection, ours.RateLimited),
    # Codes documented as "execution status unknown", even outside a 5xx.
    (400, "-1007", ccxt.BadResponse, ours.OrderOutcomeUnknown),
    (400, "-1006", ccxt.BadResponse, ours.OrderOutcomeUnknown),
    (400, "-1000", ccxt.OperationFailed, ours.OrderOutcomeUnknown),
    (400, "-1001", ccxt.ExchangeError, ours.OrderOutcomeUnknown),
    # No answer at all: a timeout or a dropped connection (or a gateway's 408 timeout).
    (408, None, ccxt.RequestTimeout, ours.OrderOutcomeUnknown),
    (None, None, ccxt.RequestTimeout, ours.OrderOutcomeUnknown),
    (None, None, ccxt.NetworkError, ours.OrderOutcomeUnknown),
    (None, None, ccxt.InvalidOrder, ours.OrderOutcomeUnknown),
    # Other 4xx: definitive, by class; an unrecognised one is still "not executed".
    (400, "-2010", ccxt.InsufficientFunds, ours.InsufficientFunds),
    (400, "-1013", ccxt.InvalidOrder, ours.OrderRejected),
    (400, "-1121", ccxt.BadSymbol, ours.OrderRejected),
    (400, "-2010", ccxt.InvalidOrder, ours.DuplicateClientOrderId),  # "Duplicate order sent."
    (401, "-2015", ccxt.AuthenticationError, ours.AuthenticationFailed),
    (400, "-1131", ccxt.ExchangeError, ours.OrderRejected),
    (400, None, ccxt.ExchangeError, ours.OrderRejected),
]


@pytest.mark.parametrize(("status", "code", "ccxt_class", "expected"), BINANCE_CREATE)
def test_binance_create_answers(
    status: int | None, code: str | None, ccxt_class: type[Exception], expected: type
) -> None:
    text = "Duplicate order sent." if expected is ours.DuplicateClientOrderId else "x"
    trace = HttpTrace(requests_sent=1, status=status, retry_after=3.0, code=code)
    mapped = map_ccxt_error(ccxt_class(f"binance {text}"), CREATE, trace=trace, exchange="binance")
    assert type(mapped) is expected
    if expected is ours.RateLimited:
        assert mapped.retry_after == 3.0  # type: ignore[attr-defined]
    # Refusals are requests that may be made again, never definitive rejections.
    refused = isinstance(mapped, ours.RequestRefused)
    assert refused == (expected in (ours.RateLimited, ours.ClockSkew))
    assert not (refused and isinstance(mapped, ours.OrderRejected | ours.OrderOutcomeUnknown))


@pytest.mark.parametrize(
    ("status", "code"), [(429, "-1003"), (418, "-1003"), (400, "-1021"), (400, "-1131")]
)
def test_other_exchanges_keep_refusals_unknown(status: int, code: str) -> None:
    """Without a documented table, a refusal may still have executed: resolve it by lookup."""
    trace = HttpTrace(requests_sent=1, status=status, code=code)
    for error in (ccxt.DDoSProtection("x"), ccxt.InvalidNonce("x"), ccxt.ExchangeError("x")):
        mapped = map_ccxt_error(error, CREATE, trace=trace, exchange="kraken")
        assert type(mapped) is ours.OrderOutcomeUnknown


def test_the_answer_table_is_one_per_exchange() -> None:
    assert table_for("binance") is BINANCE
    assert table_for("kraken") is CONSERVATIVE
    assert BINANCE.create_answer(None, None) is CreateAnswer.UNKNOWN
    assert BINANCE.create_answer(200, None) is CreateAnswer.UNKNOWN  # accepted, unreadable
    assert CONSERVATIVE.create_answer(429, "-1003") is CreateAnswer.ANSWERED


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"code":-1021,"msg":"Timestamp outside of the recvWindow."}', "-1021"),
        ('  {"code": "-1003"}', "-1003"),
        ('{"msg": "no code"}', None),
        ("<html>502 Bad Gateway</html>", None),
        ("", None),
        (None, None),
        ("{not json", None),
        ('{"code": true}', None),
    ],
)
def test_parse_error_code(body: str | None, code: str | None) -> None:
    assert parse_error_code(body) == code


@pytest.mark.parametrize(
    "body",
    [
        # Deep enough to exhaust the JSON parser's recursion (within the size cap).
        '{"code": -1021, "x": ' + "[" * 2000 + "]" * 2000 + "}",
        # A huge answer is no exchange error answer: not parsed at all.
        '{"code": -1021, "msg": "' + "x" * 5_000_000 + '"}',
    ],
    ids=["deeply-nested", "huge"],
)
def test_a_hostile_error_body_yields_no_code(body: str) -> None:
    assert parse_error_code(body) is None


def test_a_clock_refusal_on_a_read_is_retried_after_a_resync() -> None:
    trace = HttpTrace(requests_sent=1, status=400, code="-1021")
    mapped = map_ccxt_error(ccxt.BadRequest("x"), READ, trace=trace, exchange="binance")
    assert type(mapped) is ours.OrderRejected  # ccxt's class wins on a read...
    assert is_clock_skew(ccxt.BadRequest("x"), trace, "binance")  # ...but the clock is resynced
    assert isinstance(map_ccxt_error(ccxt.InvalidNonce("x"), READ, trace=trace), ours.ClockSkew)
