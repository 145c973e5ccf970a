"""Checks and prices for a new paper order (pure)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from autogrid.exchanges.errors import MarketRuleViolation, OrderRejected
from autogrid.exchanges.paper.matching import standard_arithmetic
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import MarketRules, OrderRequest, OrderType, Side, Ticker


def new_id() -> str:
    """An exchange order id or trade id: unique, and as opaque as a real exchange's."""
    return uuid.uuid4().hex


def checked_request(
    rules: MarketRules, request: OrderRequest, reference_price: Decimal | None
) -> OrderRequest:
    """The order as the exchange takes it, or ``OrderRejected`` where the exchange refuses it.

    ``OrderRequest`` is expected already prepared (``rules.prepare_order``); one that is not is
    rounded exactly as the ccxt connector's orders are before they are sent (ccxt truncates the
    amount to the step and rounds the price to the nearest tick, which is what ``prepare_order``
    does), then checked against the limits (Binance: LOT_SIZE, PRICE_FILTER, NOTIONAL).
    """
    if request.type is OrderType.MARKET and reference_price is None:
        raise OrderRejected(f"paper exchange: no {request.symbol} price yet for a market order")
    try:
        prepared = prepare_order(
            rules,
            request.side,
            request.type,
            request.amount,
            request.price,
            request.client_order_id,
            reference_price=reference_price if request.type is OrderType.MARKET else None,
        )
    except MarketRuleViolation as violation:
        raise OrderRejected(f"paper exchange: {violation}") from None
    except (TypeError, ValueError) as error:  # no price on a limit, a bad client id, ...
        raise OrderRejected(f"paper exchange: {error}") from None
    return prepared


def live_fill_price(ticker: Ticker, side: Side, slippage: Decimal) -> Decimal:
    """A market order on live prices takes the best ask (buy) or bid (sell); without a book
    side, the last price moved against the order by the slippage."""
    with standard_arithmetic():
        if side is Side.BUY:
            return ticker.ask if ticker.ask is not None else ticker.last * (1 + slippage)
        return ticker.bid if ticker.bid is not None else ticker.last * (1 - slippage)
