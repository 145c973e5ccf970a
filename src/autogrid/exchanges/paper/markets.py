"""Market rules for the paper exchange when the real exchange cannot be asked.

Order of preference (see ``AccountMarkets.load``): the rules the caller passed, the live
exchange's own rules, then this built-in table of real Binance spot filters, then a conservative
generic default for any other BASE/QUOTE symbol. A paper order is thus refused for the same
reasons the real exchange would refuse it, even offline (the ``make run`` demo has no network).

The table copies Binance's exchangeInfo filters (PRICE_FILTER tickSize, LOT_SIZE stepSize/minQty,
NOTIONAL minNotional) as published in 2025. Binance changes them rarely; the live source wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from autogrid.exchanges.errors import OrderRejected
from autogrid.exchanges.types import MarketRules

D = Decimal


def _binance(
    symbol: str,
    tick: str,
    step: str,
    min_cost: str,
    *,
    max_amount: str | None = None,
    max_price: str | None = None,
) -> MarketRules:
    base, quote = symbol.split("/")
    return MarketRules(
        symbol=symbol,
        base=base,
        quote=quote,
        amount_step=D(step),
        price_tick=D(tick),
        min_amount=D(step),  # minQty equals stepSize on these markets
        max_amount=D(max_amount) if max_amount else None,
        min_cost=D(min_cost),
        min_price=D(tick),
        max_price=D(max_price) if max_price else None,
    )


BINANCE_SPOT_RULES: Mapping[str, MarketRules] = {
    rules.symbol: rules
    for rules in (
        _binance("BTC/USDT", "0.01", "0.00001", "5", max_amount="9000", max_price="1000000"),
        _binance("ETH/USDT", "0.01", "0.0001", "5", max_amount="9000", max_price="1000000"),
        _binance("ETH/BTC", "0.00001", "0.0001", "0.0001", max_amount="100000"),
        _binance("BNB/USDT", "0.01", "0.001", "5"),
        _binance("SOL/USDT", "0.01", "0.001", "5"),
        _binance("XRP/USDT", "0.0001", "0.1", "5"),
    )
}

BUILTIN_RULES: Mapping[str, Mapping[str, MarketRules]] = {"binance": BINANCE_SPOT_RULES}

# Quote currencies worth about a dollar: a 10-unit minimum order is a safe guess for them.
_DOLLAR_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR"})
GENERIC_STEP = D("0.00000001")
GENERIC_DOLLAR_MIN_COST = D("10")


def builtin_markets(exchange_id: str) -> dict[str, MarketRules]:
    return dict(BUILTIN_RULES.get(exchange_id, {}))


def generic_rules(symbol: str) -> MarketRules:
    """Rules for a symbol nobody described: 8-decimal steps, a 10-unit minimum in dollar quotes.

    Raises ``OrderRejected`` for a symbol that is not ``BASE/QUOTE``, as an exchange would.
    """
    base, slash, quote = symbol.partition("/")
    if not slash or not base or not quote or "/" in quote:
        raise OrderRejected(f"paper exchange: {symbol!r} is not a BASE/QUOTE spot symbol")
    return MarketRules(
        symbol=symbol,
        base=base,
        quote=quote,
        amount_step=GENERIC_STEP,
        price_tick=GENERIC_STEP,
        min_amount=GENERIC_STEP,
        min_cost=GENERIC_DOLLAR_MIN_COST if quote in _DOLLAR_QUOTES else D(0),
    )
