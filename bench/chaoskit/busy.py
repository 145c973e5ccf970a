"""Busy accounts: someone else trading on a user's key, thousands of trades during the run.

A bot's fills are looked for in the key's trade history of the symbol; other trades on the same
key (several bots, or a human trading) push them further away. The "human" here rests one sell far
above the market and has the simulator fill it in small pieces through its control API, each
piece a trade of the key on BTC/USDT. The control API is used for the fills (not the exchange
API) so the human never consumes the faults meant for the bots. Its client ids start with
``FOREIGN_PREFIX``: the audit knows them as not ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
import urllib.request
from decimal import Decimal

from tests.exchange_sim import SimulatorClient, SimulatorControlError

FOREIGN_PREFIX = "human"
PIECE = Decimal("0.00001")  # the market's minimum amount: as many trades as possible


def place_resting_sell(
    sim_url: str, api_key: str, secret: str, amount: Decimal, price: Decimal
) -> int:
    """A signed POST /api/v3/order, as any Binance client sends it; the exchange's order id."""
    params = urllib.parse.urlencode(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": f"{amount:f}",
            "price": f"{price:f}",
            "newClientOrderId": f"{FOREIGN_PREFIX}-resting-sell",
            "timestamp": str(int(time.time() * 1000)),
        }
    )
    signature = hmac.new(secret.encode(), params.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{sim_url}/api/v3/order",
        data=f"{params}&signature={signature}".encode(),
        headers={"X-MBX-APIKEY": api_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.loads(response.read())["orderId"])


class BusyAccount:
    """Keeps up a pace of ``per_second`` foreign trades on one key."""

    def __init__(self, sim: SimulatorClient, order_id: int, per_second: float) -> None:
        self.sim = sim
        self.order_id = order_id
        self.per_second = per_second
        self.trades = 0
        self.errors = 0

    def keep_pace(self, elapsed: float) -> None:
        """Trade until the count matches the pace; at most a burst of 20 per call."""
        for _ in range(min(20, int(elapsed * self.per_second) - self.trades)):
            try:
                self.sim.fill_order(order_id=self.order_id, quantity=f"{PIECE:f}")
            except (SimulatorControlError, OSError):
                self.errors += 1
                return
            self.trades += 1
