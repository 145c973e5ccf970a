"""Spot symbols, their exchangeInfo entries and the order filters Binance enforces.

ccxt derives a market's precision and limits from these filters (PRICE_FILTER tickSize ->
precision.price, LOT_SIZE stepSize -> precision.amount, NOTIONAL minNotional -> limits.cost.min),
so the values are modelled on the real BTCUSDT/ETHUSDT entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tests.exchange_sim import errors

# Binance prints spot amounts with 8 decimals ("0.00100000"); so do we.
DECIMALS = Decimal("0.00000001")
# Binance rejects amounts with more decimals than the asset precision (-1111).
ASSET_PRECISION = 8
# Order types we match. ccxt refuses client-side to send a type missing from this list.
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")


def fmt(value: Decimal) -> str:
    """Binance's wire format for an amount or price."""
    return f"{value.quantize(DECIMALS):f}"


def parse_decimal(raw: object, param: str) -> Decimal:
    """A request parameter as a positive Decimal, rejected the way Binance rejects bad numbers."""
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise errors.illegal_value(param) from None
    if not value.is_finite() or value <= 0:
        raise errors.illegal_value(param)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > ASSET_PRECISION:
        raise errors.BinanceError(-1111, f"Parameter '{param}' has too much precision.")
    return value


def is_multiple(value: Decimal, base: Decimal, step: Decimal) -> bool:
    return (value - base) % step == 0


@dataclass(frozen=True)
class SymbolSpec:
    """One spot market: assets, filters and the price it starts at."""

    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    initial_price: Decimal
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")
    market_max_qty: Decimal = Decimal("100")

    @property
    def id(self) -> str:
        """Binance's symbol id, e.g. BTCUSDT."""
        return self.base + self.quote

    @property
    def unified(self) -> str:
        """ccxt's symbol, e.g. BTC/USDT."""
        return f"{self.base}/{self.quote}"

    def exchange_info(self) -> dict[str, object]:
        return {
            "symbol": self.id,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": ASSET_PRECISION,
            "quoteAsset": self.quote,
            "quotePrecision": ASSET_PRECISION,
            "quoteAssetPrecision": ASSET_PRECISION,
            "baseCommissionPrecision": ASSET_PRECISION,
            "quoteCommissionPrecision": ASSET_PRECISION,
            "orderTypes": list(ORDER_TYPES),
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.min_price),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step_size),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fmt(Decimal(0)),
                    "maxQty": fmt(self.market_max_qty),
                    "stepSize": fmt(Decimal(0)),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def check_price(self, price: Decimal) -> None:
        if (
            price < self.min_price
            or price > self.max_price
            or not is_multiple(price, self.min_price, self.tick_size)
        ):
            raise errors.filter_failure("PRICE_FILTER")

    def check_quantity(self, quantity: Decimal, is_market: bool) -> None:
        if is_market and quantity > self.market_max_qty:
            raise errors.filter_failure("MARKET_LOT_SIZE")
        if (
            quantity < self.min_qty
            or quantity > self.max_qty
            or not is_multiple(quantity, self.min_qty, self.step_size)
        ):
            raise errors.filter_failure("LOT_SIZE")

    def check_notional(self, notional: Decimal, is_market: bool) -> None:
        # applyMaxToMarket is false on Binance: the maximum binds limit orders only.
        if notional < self.min_notional or (not is_market and notional > self.max_notional):
            raise errors.filter_failure("NOTIONAL")

    def floor_to_step(self, quantity: Decimal) -> Decimal:
        """Largest valid LOT_SIZE multiple not above ``quantity`` (how quoteOrderQty is sized)."""
        steps = (quantity - self.min_qty) // self.step_size
        return self.min_qty + steps * self.step_size if steps >= 0 else Decimal(0)


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec(
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        initial_price=Decimal("100000"),
    ),
    SymbolSpec(
        base="ETH",
        quote="USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.0001"),
        min_qty=Decimal("0.0001"),
        initial_price=Decimal("2500"),
    ),
)


def symbol_id(symbol: str) -> str:
    """Accept either form from tests: 'BTC/USDT' (ccxt) or 'BTCUSDT' (Binance)."""
    return symbol.replace("/", "").upper()
