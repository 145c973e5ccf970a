"""Binance error responses: the (HTTP status, code, msg) triples the real exchange sends.

The messages are copied verbatim from Binance's spot error-code documentation because ccxt maps
some errors by exact message ("Account has insufficient balance for requested action." ->
InsufficientFunds) and others by code; a paraphrased message would change ccxt's mapping.
"""

from __future__ import annotations


class BinanceError(Exception):
    """An error answer: serialised as ``{"code": code, "msg": msg}`` with ``http_status``."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(param: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed."
    )


def illegal_value(param: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{param}'; legal range is ''."
    )


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def filter_failure(filter_type: str) -> BinanceError:
    # Binance reports filter violations as -1013 with the failing filter's name.
    return BinanceError(-1013, f"Filter failure: {filter_type}")


def insufficient_balance() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def duplicate_order() -> BinanceError:
    return BinanceError(-2010, "Duplicate order sent.")


def would_take() -> BinanceError:
    return BinanceError(-2010, "Order would immediately match and take.")


def order_does_not_exist() -> BinanceError:
    """GET /api/v3/order for an order this account does not have."""
    return BinanceError(-2013, "Order does not exist.")


def unknown_order() -> BinanceError:
    """DELETE /api/v3/order for an order that is unknown or no longer open."""
    return BinanceError(-2011, "Unknown order sent.")


def bad_api_key_format() -> BinanceError:
    return BinanceError(-2014, "API-key format invalid.", http_status=401)


def rejected_api_key() -> BinanceError:
    """Unknown key, IP not allowed, or a permission the key lacks: Binance does not say which."""
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", http_status=401)


def bad_signature() -> BinanceError:
    return BinanceError(-1022, "Signature for this request is not valid.")


def timestamp_outside_recv_window() -> BinanceError:
    return BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> BinanceError:
    return BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def recv_window_too_large() -> BinanceError:
    return BinanceError(-1131, "recvWindow must be less than 60000")


def too_many_requests() -> BinanceError:
    return BinanceError(
        -1003,
        "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
        http_status=429,
    )


def ip_banned(until_ms: int) -> BinanceError:
    return BinanceError(
        -1003,
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        http_status=418,
    )
