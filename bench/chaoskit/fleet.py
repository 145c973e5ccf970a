"""The bots of a chaos run: live grid and DCA bots sized around the starting price, spread over
the users (each with its own exchange key), and the thread that starts some of them mid-chaos."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chaoskit.api import ApiError, AutoGridApi, Trader

SYMBOL = "BTC/USDT"
TICK_SECONDS = 2
CENT = Decimal("0.01")


def _price(value: Decimal) -> str:
    return str(value.quantize(CENT))


def grid_bodies(price: Decimal) -> list[dict[str, Any]]:
    """Narrow ladders (steps of 0.3-0.4 %, just above two fees): a quarter of an hour of real 1m
    prices crosses several of their levels."""
    shapes = [
        (Decimal("0.015"), 10, "arithmetic", "3000"),
        (Decimal("0.03"), 16, "geometric", "5000"),
        (Decimal("0.01"), 6, "arithmetic", "2000"),
    ]
    return [
        {
            "type": "grid",
            "config": {
                "lower_price": _price(price * (1 - width)),
                "upper_price": _price(price * (1 + width)),
                "grid_count": count,
                "spacing": spacing,
                "investment": investment,
                "direction": "long",
            },
        }
        for width, count, spacing, investment in shapes
    ]


def dca_bodies() -> list[dict[str, Any]]:
    """Short steps and take profits, so deals open and close many times in a run."""
    return [
        {
            "type": "dca",
            "config": {
                "base_order_volume": "100",
                "safety_order_volume": "100",
                "safety_order_step_percentage": "0.3",
                "max_safety_orders": 3,
                "active_safety_orders_count": 2,
                "take_profit": "0.3",
            },
        },
        {
            "type": "dca",
            "config": {
                "base_order_volume": "200",
                "safety_order_volume": "150",
                "safety_order_step_percentage": "0.5",
                "martingale_volume_coefficient": "1.5",
                "max_safety_orders": 4,
                "active_safety_orders_count": 1,
                "take_profit": "0.5",
            },
        },
    ]


@dataclass
class FleetBot:
    id: str
    name: str
    kind: str
    trader: Trader
    start_at: float  # seconds into the chaos (0: before it)


def build_fleet(
    api: AutoGridApi,
    traders: list[Trader],
    price: Decimal,
    grids: int,
    dcas: int,
    rng: random.Random,
    chaos_seconds: float,
) -> list[FleetBot]:
    """Create the bots (stopped). Half start before the chaos, the rest in its first half."""
    grid_shapes, dca_shapes = grid_bodies(price), dca_bodies()
    bodies = [("grid", grid_shapes[i % len(grid_shapes)]) for i in range(grids)]
    bodies += [("dca", dca_shapes[i % len(dca_shapes)]) for i in range(dcas)]
    fleet: list[FleetBot] = []
    for number, (kind, shape) in enumerate(bodies, start=1):
        trader = traders[number % len(traders)]
        name = f"chaos {kind} {number}"
        body = {
            **shape,
            "name": name,
            "exchange": "binance",
            "symbol": SYMBOL,
            "tick_interval_seconds": TICK_SECONDS,
        }
        start_at = 0.0 if number % 2 else rng.uniform(0, chaos_seconds / 2)
        fleet.append(FleetBot(api.create_bot(trader, body), name, kind, trader, start_at))
    return fleet


class Starter:
    """Starts the fleet's late bots on time through the API (which may be dead at the time)."""

    def __init__(self, api: AutoGridApi, bots: list[FleetBot], began: float) -> None:
        self.api = api
        self.bots = sorted(bots, key=lambda b: b.start_at)
        self.began = began
        self.errors: list[str] = []
        self.started: list[str] = []
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-starter", daemon=True)

    def stop(self) -> None:
        """No further start (the run is ending); a call under way ends with its deadline."""
        self._stopped.set()

    def _run(self) -> None:
        for bot in self.bots:
            if self._stopped.wait(max(0.0, self.began + bot.start_at - time.monotonic())):
                return
            try:
                self.api.start(bot.trader, bot.id)
                self.started.append(bot.id)
            except ApiError as error:
                self.errors.append(f"start {bot.name}: {error}")
            except RuntimeError:  # the client was closed under it: the run is over
                return
