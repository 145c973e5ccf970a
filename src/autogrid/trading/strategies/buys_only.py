"""The strategy of a DCA bot that runs no deals, only recurring buys on a schedule.

The scheduled buys themselves are placed by the runtime at each slot (keyed by bot and slot, see
``autogrid.bots.scheduled_buys``); the strategy has nothing to decide. It still takes part in
the tick like any other, so the bot's fills reach its ledger and stats the usual way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autogrid.exchanges.types import MarketRules
from autogrid.trading.strategies.base import Decision, PriceOnly, Snapshot, StrategyFill


@dataclass(frozen=True, slots=True)
class BuysOnlyStrategy(PriceOnly):
    market: MarketRules
    name: str = "dca"

    def initial_state(self, snapshot: Snapshot) -> dict[str, Any]:
        return {}

    def dump_state(self, state: dict[str, Any]) -> dict[str, Any]:
        return dict(state)

    def load_state(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return dict(data)

    def decide(
        self, snapshot: Snapshot, state: dict[str, Any], fills: Sequence[StrategyFill]
    ) -> Decision[dict[str, Any]]:
        return Decision((), state)
