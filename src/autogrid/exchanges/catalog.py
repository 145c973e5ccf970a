"""Which exchanges we list, and how far we stand behind trading on each.

- ``supported``: trading is tested end to end (against a simulator speaking its protocol);
- ``offered``: trading is available through ccxt's unified API but not tested by us;
- ``market_data``: prices and candles only.

Capabilities come from ccxt's metadata; building the catalog opens no connection and is cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from autogrid.exchanges.ccxt.capabilities import CAPABILITY_NAMES, ccxt_exchange_ids, describe

__all__ = [
    "CAPABILITY_NAMES",
    "ExchangeInfo",
    "TradingSupport",
    "exchange_catalog",
    "exchange_info",
    "resolve_exchange_id",
]


class TradingSupport(StrEnum):
    SUPPORTED = "supported"
    OFFERED = "offered"
    MARKET_DATA = "market_data"


SUPPORTED_EXCHANGES = frozenset({"binance"})
# ccxt 4.5 spells Gate.io "gate" (the old "gateio" id is gone); ALIASES keeps the old name working.
OFFERED_EXCHANGES = frozenset({"bybit", "okx", "kraken", "kucoin", "mexc", "gate", "coinbase"})
ALIASES = {"gateio": "gate"}


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    exchange_id: str
    name: str
    trading: TradingSupport
    sandbox: bool
    capabilities: dict[str, bool] = field(hash=False)

    @property
    def can_trade(self) -> bool:
        return self.trading is not TradingSupport.MARKET_DATA


def _trading_level(exchange_id: str) -> TradingSupport:
    if exchange_id in SUPPORTED_EXCHANGES:
        return TradingSupport.SUPPORTED
    if exchange_id in OFFERED_EXCHANGES:
        return TradingSupport.OFFERED
    return TradingSupport.MARKET_DATA


@cache
def exchange_catalog() -> tuple[ExchangeInfo, ...]:
    """Every ccxt exchange, sorted by id."""
    infos = []
    for exchange_id in sorted(ccxt_exchange_ids()):
        description = describe(exchange_id)
        infos.append(
            ExchangeInfo(
                exchange_id=exchange_id,
                name=description.name,
                trading=_trading_level(exchange_id),
                sandbox=description.sandbox,
                capabilities=description.capabilities,
            )
        )
    return tuple(infos)


def resolve_exchange_id(exchange_id: str) -> str:
    normalized = exchange_id.strip().lower()
    return ALIASES.get(normalized, normalized)


def exchange_info(exchange_id: str) -> ExchangeInfo | None:
    wanted = resolve_exchange_id(exchange_id)
    return next((info for info in exchange_catalog() if info.exchange_id == wanted), None)
