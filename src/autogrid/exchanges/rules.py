"""Round an order to a market's precision and check it against the market's limits.

Pure functions: no I/O, no clock. Everything is checked *before* an order leaves the process, so a
user learns about a 10 USDT minimum from a 422 naming the limit, not from an exchange rejection.

Rounding:
- the amount is truncated (ROUND_DOWN) to ``amount_step``: we never trade more than was asked;
- the price is rounded half-up to ``price_tick``. That is what ccxt's ``price_to_precision`` does,
  so a price we prepared is sent unchanged (ccxt rounds again, idempotently).

All arithmetic is exact (integer division and remainders in a private decimal context): ccxt's
``decimal_to_precision`` rewrites the *thread's* default context (rounding, traps), so nothing here
may depend on the ambient one.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow

from autogrid.exchanges.errors import MarketRuleViolation
from autogrid.exchanges.types import MarketRules, OrderRequest, OrderType, Side

# Wide enough for any amount or price an exchange accepts; traps make overflow loud, not lossy.
_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow])

# Binance's newClientOrderId rule; the strictest common denominator among the exchanges we offer.
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:/-]{1,36}$")


def _finite_positive_step(step: Decimal, name: str) -> None:
    if not isinstance(step, Decimal) or not step.is_finite() or step <= 0:
        raise ValueError(f"{name} must be a positive finite Decimal, got {step!r}")


def _tidy(value: Decimal, step: Decimal) -> Decimal:
    """Give the result the step's number of decimals (``0.10000`` for step ``0.00001``)."""
    exponent = step.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked by the caller
    if exponent >= 0:
        return value
    return value.quantize(Decimal(1).scaleb(exponent), context=_EXACT)


def round_amount(amount: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``amount`` (amount >= 0)."""
    _finite_positive_step(step, "amount_step")
    units = _EXACT.divide_int(amount, step)
    return _tidy(_EXACT.multiply(units, step), step)


def round_price(price: Decimal, tick: Decimal) -> Decimal:
    """The multiple of ``tick`` nearest to ``price`` (price >= 0), halves rounded up."""
    _finite_positive_step(tick, "price_tick")
    units = _EXACT.divide_int(price, tick)
    remainder = _EXACT.remainder(price, tick)
    if _EXACT.multiply(remainder, 2) >= tick:
        units = _EXACT.add(units, 1)
    return _tidy(_EXACT.multiply(units, tick), tick)


def _money(value: object, name: str) -> Decimal:
    # Floats are refused outright: money crosses our code as Decimal only.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _plain(value: Decimal) -> str:
    """``4`` rather than ``4.0000000`` or ``1E+2`` in messages."""
    return f"{value.normalize(_EXACT):f}"


def _violation(rule: str, limit: Decimal, value: Decimal, what: str, symbol: str) -> None:
    raise MarketRuleViolation(
        f"{what} {_plain(value)} {_RULE_WORDS[rule]} {_plain(limit)} for {symbol}",
        rule=rule,
        limit=limit,
        value=value,
    )


_RULE_WORDS = {
    "min_amount": "is below the market's minimum amount",
    "max_amount": "is above the market's maximum amount",
    "min_price": "is below the market's minimum price",
    "max_price": "is above the market's maximum price",
    "min_cost": "is below the market's minimum order value",
}


def prepare_order(
    rules: MarketRules,
    side: Side,
    type: OrderType,
    amount: Decimal,
    price: Decimal | None,
    client_order_id: str,
    reference_price: Decimal | None = None,
) -> OrderRequest:
    """Round and check an order; raise ``MarketRuleViolation`` naming the first broken limit.

    ``price`` is required for limit orders and refused for market orders, whose value is
    estimated with ``reference_price`` (e.g. the last trade) to check ``min_cost``.
    Programming errors (floats, a limit order without a price, a bad client id) raise
    ``TypeError``/``ValueError`` instead: they are bugs, not user mistakes.
    """
    side = Side(side)
    type = OrderType(type)
    amount = _money(amount, "amount")
    if not CLIENT_ORDER_ID_PATTERN.match(client_order_id):
        raise ValueError(f"client_order_id {client_order_id!r} must match [A-Za-z0-9._:/-]{{1,36}}")
    if type is OrderType.LIMIT and price is None:
        raise ValueError("a limit order needs a price")
    if type is OrderType.MARKET and price is not None:
        raise ValueError("a market order takes no price; pass reference_price instead")
    if reference_price is not None:
        reference_price = _money(reference_price, "reference_price")
    symbol = rules.symbol
    if not rules.active:
        raise MarketRuleViolation(
            f"market {symbol} is not open for trading", rule="market_active", limit=None, value=None
        )

    rounded_amount = _checked_amount(rules, amount)
    rounded_price = _checked_price(rules, price) if price is not None else None
    valuation_price = rounded_price if rounded_price is not None else reference_price
    _check_min_cost(rules, rounded_amount, valuation_price)
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=type,
        amount=rounded_amount,
        price=rounded_price,
        client_order_id=client_order_id,
    )


def _checked_amount(rules: MarketRules, amount: Decimal) -> Decimal:
    """The amount rounded down to the step, within the market's amount limits."""
    symbol = rules.symbol
    rounded_amount = round_amount(max(amount, Decimal(0)), rules.amount_step)
    smallest_amount = max(rules.min_amount, rules.amount_step)
    if rounded_amount < smallest_amount:
        what = "amount" if rounded_amount == amount else f"amount {amount} rounded down to"
        _violation("min_amount", smallest_amount, rounded_amount, what, symbol)
    if rules.max_amount is not None and rounded_amount > rules.max_amount:
        _violation("max_amount", rules.max_amount, rounded_amount, "amount", symbol)
    return rounded_amount


def _checked_price(rules: MarketRules, price: Decimal) -> Decimal:
    """The price rounded to the tick, within the market's price limits."""
    symbol = rules.symbol
    price = _money(price, "price")
    rounded_price = round_price(max(price, Decimal(0)), rules.price_tick)
    lowest_price = max(rules.min_price or Decimal(0), rules.price_tick)
    if rounded_price < lowest_price:
        _violation("min_price", lowest_price, rounded_price, "price", symbol)
    if rules.max_price is not None and rounded_price > rules.max_price:
        _violation("max_price", rules.max_price, rounded_price, "price", symbol)
    return rounded_price


def _check_min_cost(rules: MarketRules, amount: Decimal, valuation_price: Decimal | None) -> None:
    if rules.min_cost <= 0:
        return
    if valuation_price is None:
        raise ValueError("a market order needs a reference_price to check the minimum cost")
    cost = _EXACT.multiply(amount, valuation_price)
    if cost < rules.min_cost:
        _violation("min_cost", rules.min_cost, cost, "order value", symbol=rules.symbol)
