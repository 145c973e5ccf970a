"""The market rules one paper account trades under (see markets.py for the order of
preference), loaded once per exchange object and priced at the account's own fees."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from autogrid.exchanges.errors import OrderRejected
from autogrid.exchanges.paper.config import PaperConfig
from autogrid.exchanges.paper.markets import builtin_markets, generic_rules
from autogrid.exchanges.paper.sources import PriceSource
from autogrid.exchanges.types import MarketRules


class AccountMarkets:
    """The market rules one paper account trades under, in the order of preference above, each
    at the account's fees (not the exchange's: they are what this account pays)."""

    def __init__(
        self,
        exchange_id: str,
        source: PriceSource,
        given_rules: Mapping[str, MarketRules] | None,
    ) -> None:
        self._exchange_id = exchange_id
        self._source = source
        self._given = dict(given_rules) if given_rules is not None else None
        self.loaded: dict[str, MarketRules] | None = None
        self._are_the_exchanges = False

    async def load(self, config: PaperConfig) -> dict[str, MarketRules]:
        markets = self._given
        self._are_the_exchanges = False
        if markets is None:
            markets = await self._source.market_rules()
            self._are_the_exchanges = markets is not None
        if markets is None:
            markets = builtin_markets(self._exchange_id)
        self.loaded = {
            symbol: replace(rules, maker_fee=config.maker_fee, taker_fee=config.taker_fee)
            for symbol, rules in markets.items()
        }
        return self.loaded

    def unlisted(self, symbol: str, config: PaperConfig) -> MarketRules:
        """The rules for a symbol the loaded markets do not list: refused when they are the
        exchange's own (it has no such market), the generic default otherwise."""
        if self._are_the_exchanges:
            raise OrderRejected(f"{self._exchange_id} has no spot market {symbol}")
        generic = generic_rules(symbol)
        return replace(generic, maker_fee=config.maker_fee, taker_fee=config.taker_fee)
