"""Orders and trades, and the JSON shapes Binance gives them on each endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tests.exchange_sim.market import fmt

NEW = "NEW"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})


@dataclass
class Trade:
    """One execution of one order (Binance's myTrades row)."""

    trade_id: int
    order_id: int
    symbol: str
    api_key: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty

    def to_binance(self) -> dict[str, object]:
        """GET /api/v3/myTrades row."""
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.quote_qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }

    def to_fill(self) -> dict[str, object]:
        """An entry of the ``fills`` list in a FULL order-create response."""
        return {
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.trade_id,
        }


@dataclass
class Order:
    order_id: int
    symbol: str
    api_key: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    time: int
    status: str = NEW
    executed_qty: Decimal = Decimal(0)
    cumulative_quote_qty: Decimal = Decimal(0)
    orig_quote_order_qty: Decimal = Decimal(0)
    update_time: int = 0
    # Funds still reserved for the unfilled rest (quote for a buy, base for a sell).
    locked: Decimal = Decimal(0)
    # The exchange's own order of events, unlike its clock (which tests skew): when the order
    # was created and when it ended (filled, canceled, expired). Inspection only, never served.
    created_seq: int = 0
    ended_seq: int | None = None
    trades: list[Trade] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def _common(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cumulative_quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }

    def to_binance(self) -> dict[str, object]:
        """GET /api/v3/order, openOrders and allOrders shape."""
        return {
            **self._common(),
            "stopPrice": fmt(Decimal(0)),
            "icebergQty": fmt(Decimal(0)),
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": fmt(self.orig_quote_order_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def to_create_response(self, resp_type: str) -> dict[str, object]:
        """POST /api/v3/order answer for newOrderRespType ACK, RESULT or FULL."""
        ack: dict[str, object] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "transactTime": self.time,
        }
        if resp_type == "ACK":
            return ack
        result = {
            **ack,
            **self._common(),
            "workingTime": self.time,
            "origQuoteOrderQty": fmt(self.orig_quote_order_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if resp_type == "FULL":
            result["fills"] = [t.to_fill() for t in self.trades]
        return result

    def to_cancel_response(self, cancel_client_id: str, now_ms: int) -> dict[str, object]:
        """DELETE /api/v3/order answer. Note Binance's naming: ``clientOrderId`` is the id of the
        cancel request and ``origClientOrderId`` the order's own id (ccxt surfaces the former)."""
        common = self._common()
        return {
            **common,
            "origClientOrderId": self.client_order_id,
            "clientOrderId": cancel_client_id,
            "transactTime": now_ms,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def snapshot(self) -> dict[str, object]:
        """Inspection view for tests: Binance fields plus who owns it and its trade ids."""
        return {
            **self.to_binance(),
            "apiKey": self.api_key,
            "tradeIds": [t.trade_id for t in self.trades],
            "createdSeq": self.created_seq,
            "endedSeq": self.ended_seq,
        }
