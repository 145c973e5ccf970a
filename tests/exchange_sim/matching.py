"""Exchange state and matching against a price the test controls.

Liquidity is unlimited at the current price. A marketable order fills at once as taker at the
current price (never worse than its limit); a resting limit order fills as maker at its own limit
price when the price path reaches it (buy: price <= limit, sell: price >= limit), even if the path
jumps past it. Fees are Binance's default 0.1%, taken like Binance does: from the base asset a
buyer receives and from the quote asset a seller receives.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tests.exchange_sim import errors
from tests.exchange_sim.accounts import Account
from tests.exchange_sim.market import (
    DECIMALS,
    ORDER_TYPES,
    SymbolSpec,
    parse_decimal,
    symbol_id,
)
from tests.exchange_sim.orders import CANCELED, EXPIRED, FILLED, PARTIALLY_FILLED, Order, Trade

DEFAULT_FEE_RATE = Decimal("0.001")
CLIENT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")


@dataclass
class TickerStats:
    """Rolling-window figures for /ticker/24hr, kept since the simulator started."""

    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    count: int = 0


class Exchange:
    """All mutable exchange state; every operation here is synchronous and atomic."""

    def __init__(
        self,
        symbols: Iterable[SymbolSpec],
        clock: Callable[[], int],
        fee_rate: Decimal = DEFAULT_FEE_RATE,
    ) -> None:
        self.clock = clock
        self._events = itertools.count(1)  # see Order.created_seq
        self.fee_rate = fee_rate
        self.specs = {spec.id: spec for spec in symbols}
        self.prices = {sid: spec.initial_price for sid, spec in self.specs.items()}
        self.stats = {sid: TickerStats(p, p, p) for sid, p in self.prices.items()}
        self.price_paths: dict[str, deque[Decimal]] = {sid: deque() for sid in self.specs}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self._next_order_id = 1
        self._next_trade_id = 1

    # ----- lookups -------------------------------------------------------------------------
    def spec(self, symbol: str | None) -> SymbolSpec:
        if not symbol:
            raise errors.mandatory("symbol")
        spec = self.specs.get(symbol_id(symbol))
        if spec is None:
            raise errors.invalid_symbol()
        return spec

    def orders_of(self, account: Account, symbol: str | None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.api_key == account.api_key and (symbol is None or o.symbol == symbol)
        ]

    def find_order(
        self, account: Account, symbol: str, order_id: str | None, client_id: str | None
    ) -> Order | None:
        if order_id is not None:
            if not order_id.isdigit():
                raise errors.illegal_value("orderId")
            order = self.orders.get(int(order_id))
            if order is None or order.api_key != account.api_key or order.symbol != symbol:
                return None
            return order if client_id is None or order.client_order_id == client_id else None
        # A client id can be reused once its order is closed; the newest order wins.
        matches = [o for o in self.orders_of(account, symbol) if o.client_order_id == client_id]
        return matches[-1] if matches else None

    # ----- order entry ---------------------------------------------------------------------
    def place_order(self, account: Account, params: Mapping[str, str]) -> Order:
        spec = self.spec(params.get("symbol"))
        side = params.get("side")
        if not side:
            raise errors.mandatory("side")
        if side not in ("BUY", "SELL"):
            raise errors.BinanceError(-1117, "Invalid side.")
        order_type = params.get("type")
        if not order_type:
            raise errors.mandatory("type")
        if order_type not in ORDER_TYPES:
            raise errors.BinanceError(-1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or "sim" + secrets.token_hex(10)
        if not CLIENT_ID_PATTERN.match(client_id):
            raise errors.BinanceError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
            )
        order = self._build_order(spec, account, params, side, order_type, client_id)
        # Binance only refuses a client id that is in use by an OPEN order: once the first order
        # has filled or been canceled, the same id is accepted again (a blind retry re-trades).
        if any(
            o.is_open and o.client_order_id == client_id for o in self.orders_of(account, spec.id)
        ):
            raise errors.duplicate_order()
        self._reserve(spec, account, order)
        self.orders[order.order_id] = order
        self._next_order_id += 1
        self._execute_on_entry(spec, account, order)
        return order

    def _build_order(
        self,
        spec: SymbolSpec,
        account: Account,
        params: Mapping[str, str],
        side: str,
        order_type: str,
        client_id: str,
    ) -> Order:
        is_market = order_type == "MARKET"
        tif = params.get("timeInForce")
        if order_type == "LIMIT":
            if not tif:
                raise errors.mandatory("timeInForce")
            if tif not in ("GTC", "IOC", "FOK"):
                raise errors.BinanceError(-1115, "Invalid timeInForce.")
        elif tif:
            raise errors.BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
        current = self.prices[spec.id]
        quote_qty = Decimal(0)
        if is_market:
            if params.get("price"):
                raise errors.BinanceError(-1106, "Parameter 'price' sent when not required.")
            price = Decimal(0)
            if params.get("quoteOrderQty"):
                if params.get("quantity"):
                    raise errors.BinanceError(
                        -1106, "Parameter 'quoteOrderQty' sent when not required."
                    )
                quote_qty = parse_decimal(params["quoteOrderQty"], "quoteOrderQty")
                quantity = spec.floor_to_step(quote_qty / current)
                notional = quote_qty
            else:
                quantity = parse_decimal(params.get("quantity") or "", "quantity")
                notional = quantity * current
        else:
            if not params.get("price"):
                raise errors.mandatory("price")
            if not params.get("quantity"):
                raise errors.mandatory("quantity")
            price = parse_decimal(params["price"], "price")
            quantity = parse_decimal(params["quantity"], "quantity")
            spec.check_price(price)
            notional = price * quantity
        spec.check_quantity(quantity, is_market)
        spec.check_notional(notional, is_market)
        now = self.clock()
        return Order(
            order_id=self._next_order_id,
            symbol=spec.id,
            api_key=account.api_key,
            client_order_id=client_id,
            side=side,
            type=order_type,
            time_in_force=tif or "GTC",
            price=price,
            orig_qty=quantity,
            time=now,
            update_time=now,
            orig_quote_order_qty=quote_qty,
            created_seq=next(self._events),
        )

    def _marketable(self, order: Order, price: Decimal) -> bool:
        if order.type == "MARKET":
            return True
        return price <= order.price if order.side == "BUY" else price >= order.price

    def _reserve(self, spec: SymbolSpec, account: Account, order: Order) -> None:
        current = self.prices[spec.id]
        if order.type == "LIMIT_MAKER" and self._marketable(order, current):
            raise errors.would_take()
        if order.type == "MARKET":
            # Market orders execute at once, so Binance only checks the balance is there.
            if order.side == "BUY":
                account.require_free(spec.quote, order.orig_qty * current)
            else:
                account.require_free(spec.base, order.orig_qty)
            return
        asset = spec.quote if order.side == "BUY" else spec.base
        amount = order.orig_qty * order.price if order.side == "BUY" else order.orig_qty
        account.lock(asset, amount)
        order.locked = amount

    def _execute_on_entry(self, spec: SymbolSpec, account: Account, order: Order) -> None:
        current = self.prices[spec.id]
        if self._marketable(order, current):
            self._fill(spec, account, order, order.remaining, current, is_maker=False)
        elif order.time_in_force in ("IOC", "FOK"):
            self._close(spec, account, order, EXPIRED)

    # ----- execution -----------------------------------------------------------------------
    def _fill(
        self,
        spec: SymbolSpec,
        account: Account,
        order: Order,
        qty: Decimal,
        price: Decimal,
        is_maker: bool,
    ) -> Trade:
        quote_amount = qty * price
        base, quote = account.balance(spec.base), account.balance(spec.quote)
        if order.side == "BUY":
            if order.type == "MARKET":
                quote.free -= quote_amount
            else:
                # The reservation was made at the limit price; a better fill refunds the gap.
                reserved = qty * order.price
                quote.locked -= reserved
                order.locked -= reserved
                quote.free += reserved - quote_amount
            commission, commission_asset = (qty * self.fee_rate).quantize(DECIMALS), spec.base
            base.free += qty - commission
        else:
            if order.type == "MARKET":
                base.free -= qty
            else:
                base.locked -= qty
                order.locked -= qty
            commission = (quote_amount * self.fee_rate).quantize(DECIMALS)
            commission_asset = spec.quote
            quote.free += quote_amount - commission
        now = self.clock()
        trade = Trade(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            symbol=spec.id,
            api_key=account.api_key,
            price=price,
            qty=qty,
            commission=commission,
            commission_asset=commission_asset,
            time=now,
            is_buyer=order.side == "BUY",
            is_maker=is_maker,
        )
        self._next_trade_id += 1
        self.trades.append(trade)
        order.trades.append(trade)
        order.executed_qty += qty
        order.cumulative_quote_qty += quote_amount
        order.status = FILLED if order.remaining == 0 else PARTIALLY_FILLED
        order.update_time = now
        if order.status == FILLED:
            order.ended_seq = next(self._events)
        stats = self.stats[spec.id]
        stats.volume += qty
        stats.quote_volume += quote_amount
        stats.count += 1
        return trade

    def _close(self, spec: SymbolSpec, account: Account, order: Order, status: str) -> None:
        if order.locked:
            account.unlock(spec.quote if order.side == "BUY" else spec.base, order.locked)
            order.locked = Decimal(0)
        order.status = status
        order.update_time = self.clock()
        order.ended_seq = next(self._events)

    def cancel_order(
        self, account: Account, symbol: str | None, order_id: str | None, client_id: str | None
    ) -> Order:
        spec = self.spec(symbol)
        if order_id is None and client_id is None:
            raise errors.BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is None:
            # By client id Binance cancels the order using it that is still open.
            order = next(
                (
                    o
                    for o in reversed(self.orders_of(account, spec.id))
                    if o.client_order_id == client_id and o.is_open
                ),
                None,
            )
        else:
            order = self.find_order(account, spec.id, order_id, client_id)
        if order is None or not order.is_open:
            raise errors.unknown_order()
        self._close(spec, account, order, CANCELED)
        return order

    def fill_order(self, order: Order, quantity: Decimal | None, price: Decimal | None) -> Trade:
        """Test control: execute (part of) a resting order, as if a counterparty arrived."""
        if not order.is_open:
            raise ValueError(f"order {order.order_id} is {order.status}, not open")
        qty = order.remaining if quantity is None else quantity
        if not 0 < qty <= order.remaining:
            raise ValueError(f"fill quantity {qty} outside (0, {order.remaining}]")
        fill_price = price or order.price
        if order.type != "MARKET" and not self._marketable(order, fill_price):
            raise ValueError(f"fill price {fill_price} is worse than the limit {order.price}")
        spec = self.specs[order.symbol]
        return self._fill(spec, self.accounts[order.api_key], order, qty, fill_price, True)

    def add_past_trades(
        self,
        account: Account,
        symbol: str,
        count: int,
        per_order: int,
        qty: Decimal,
        spread_ms: int = 0,
    ) -> int:
        """Test control: ``count`` trades of filled orders the account made elsewhere (another
        bot or a human on the same key), at the current price, their times spread evenly over
        the last ``spread_ms`` (0: all now). History only: balances, prices and resting orders
        are untouched. Returns the number of orders created."""
        spec = self.spec(symbol)
        if count < 1 or per_order < 1 or qty <= 0 or spread_ms < 0:
            raise ValueError("count, per_order and qty must be positive, spread_ms not negative")
        price, now = self.prices[spec.id], self.clock()
        first = now - spread_ms
        if self.trades and self.trades[-1].time > first:
            raise ValueError("trades are kept in time order: spread_ms reaches past the last one")
        order: Order | None = None
        for k in range(count):
            if k % per_order == 0:
                size = min(per_order, count - k)
                order = Order(
                    order_id=self._next_order_id,
                    symbol=spec.id,
                    api_key=account.api_key,
                    client_order_id=f"elsewhere{self._next_order_id}",
                    side="BUY" if self._next_order_id % 2 else "SELL",
                    type="LIMIT",
                    time_in_force="GTC",
                    price=price,
                    orig_qty=qty * size,
                    time=first,
                    update_time=now,
                    status=FILLED,
                    executed_qty=qty * size,
                    cumulative_quote_qty=qty * size * price,
                    created_seq=next(self._events),
                )
                order.ended_seq = next(self._events)
                self._next_order_id += 1
                self.orders[order.order_id] = order
            assert order is not None
            trade = Trade(
                trade_id=self._next_trade_id,
                order_id=order.order_id,
                symbol=spec.id,
                api_key=account.api_key,
                price=price,
                qty=qty,
                commission=(qty * price * self.fee_rate).quantize(DECIMALS),
                commission_asset=spec.quote,
                time=first + spread_ms * (k + 1) // count,
                is_buyer=order.side == "BUY",
                is_maker=True,
            )
            self._next_trade_id += 1
            self.trades.append(trade)
            order.trades.append(trade)
        return (count + per_order - 1) // per_order

    def set_price(self, symbol: str, price: Decimal) -> list[Trade]:
        """Move the market and fill every resting order the move reaches, oldest first."""
        spec = self.spec(symbol)
        if price <= 0:
            raise ValueError("price must be positive")
        self.prices[spec.id] = price
        stats = self.stats[spec.id]
        stats.high, stats.low = max(stats.high, price), min(stats.low, price)
        fills = []
        for order in [o for o in self.orders.values() if o.symbol == spec.id and o.is_open]:
            if self._marketable(order, price):
                account = self.accounts[order.api_key]
                fills.append(self._fill(spec, account, order, order.remaining, order.price, True))
        return fills

    def set_price_path(self, symbol: str, prices: Iterable[Decimal]) -> int:
        path = self.price_paths[self.spec(symbol).id]
        path.clear()
        path.extend(prices)
        return len(path)

    def step_price(self, symbol: str, steps: int = 1) -> list[Trade]:
        spec = self.spec(symbol)
        path = self.price_paths[spec.id]
        if len(path) < steps:
            raise ValueError(f"price path of {spec.id} has {len(path)} steps left, not {steps}")
        fills: list[Trade] = []
        for _ in range(steps):
            fills += self.set_price(spec.id, path.popleft())
        return fills

    # ----- queries -------------------------------------------------------------------------
    def open_orders(self, account: Account, symbol: str | None) -> list[Order]:
        sid = self.spec(symbol).id if symbol else None
        return [o for o in self.orders_of(account, sid) if o.is_open]
