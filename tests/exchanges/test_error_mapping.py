"""Every ccxt exception class maps to our hierarchy as RELIABILITY.md's table says."""

from __future__ import annotations

import importlib
import inspect

import ccxt
import pytest

from autogrid.exchanges import errors as ours
from autogrid.exchanges.ccxt.error_mapping import (
    HttpTrace,
    Operation,
    map_ccxt_error,
    parse_retry_after,
)

READ, CREATE, CANCEL = Operation.READ, Operation.CREATE, Operation.CANCEL
SENT = HttpTrace(requests_sent=1, status=400)

# (ccxt class, on a read, on a create/cancel that reached the exchange)
TABLE: list[tuple[type[Exception], type[ours.ExchangeError], type[ours.ExchangeError]]] = [
    (ccxt.RequestTimeout, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.ExchangeNotAvailable, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.OnMaintenance, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
    (ccxt.DDoSProtection, ours.RateLimited, ours.OrderOutcomeUnknown),
    (ccxt.RateLimitExceeded, ours.RateLimited, ours.OrderOutcomeUnknown),
    (ccxt.InvalidNonce, ours.TemporaryExchangeError, ours.OrderOutcomeUnknown),
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


def test_status_codes_alone_classify_unknown_errors() -> None:
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
