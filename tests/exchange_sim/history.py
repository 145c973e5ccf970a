"""allOrders and myTrades: an account's order and trade history with Binance's paging rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from tests.exchange_sim import errors
from tests.exchange_sim.orders import Order, Trade

LIST_DEFAULT_LIMIT = 500
LIST_MAX_LIMIT = 1000
DAY_MS = 86_400_000

Row = TypeVar("Row", Order, Trade)


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.illegal_value(name) from None


def _page(rows: Iterable[Row], params: Mapping[str, str], from_key: str) -> list[Row]:
    # Binance pages forward from a start (a time or an id); otherwise it returns the newest rows.
    forward = _int(params, "startTime") is not None or _int(params, from_key) is not None
    return _limited(rows, params, forward=forward)


def _limited(rows: Iterable[Row], params: Mapping[str, str], *, forward: bool) -> list[Row]:
    start, end = _int(params, "startTime"), _int(params, "endTime")
    selected = [
        r for r in rows if (start is None or r.time >= start) and (end is None or r.time <= end)
    ]
    limit = _int(params, "limit")
    count = LIST_DEFAULT_LIMIT if limit is None else max(1, min(limit, LIST_MAX_LIMIT))
    return selected[:count] if forward else selected[-count:]


def all_orders(orders: Iterable[Order], params: Mapping[str, str]) -> list[Order]:
    """One account's orders on one symbol, oldest first (GET /api/v3/allOrders)."""
    first_id = _int(params, "orderId")
    rows = [o for o in orders if first_id is None or o.order_id >= first_id]
    return _page(rows, params, "orderId")


# Binance answers any other mix of orderId/startTime/endTime/fromId with -1128 (changelog of
# 2023-01-23: e.g. fromId with a time used to ignore the time, and is refused since).
MY_TRADES_COMBINATIONS = frozenset(
    {
        frozenset(),
        frozenset({"orderId"}),
        frozenset({"startTime"}),
        frozenset({"endTime"}),
        frozenset({"fromId"}),
        frozenset({"startTime", "endTime"}),
        frozenset({"orderId", "fromId"}),
    }
)


def my_trades(trades: Iterable[Trade], params: Mapping[str, str]) -> list[Trade]:
    """One account's trades on one symbol, oldest first (GET /api/v3/myTrades).

    With ``orderId`` only that order's trades, from its first one on (``fromId`` pages them);
    ``limit`` applies as everywhere (default 500, at most 1000)."""
    sent = frozenset(
        name for name in ("orderId", "startTime", "endTime", "fromId") if params.get(name)
    )
    if sent not in MY_TRADES_COMBINATIONS:
        raise errors.BinanceError(-1128, "Combination of optional parameters invalid.")
    start, end = _int(params, "startTime"), _int(params, "endTime")
    if start is not None and end is not None and end - start > DAY_MS:
        raise errors.BinanceError(-1127, "More than 24 hours between startTime and endTime.")
    order_id, from_id = _int(params, "orderId"), _int(params, "fromId")
    rows = [
        t
        for t in trades
        if (order_id is None or t.order_id == order_id)
        and (from_id is None or t.trade_id >= from_id)
    ]
    if order_id is not None:  # an order's trades are listed from its first one on
        return _limited(rows, params, forward=True)
    return _page(rows, params, "fromId")
