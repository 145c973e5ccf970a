"""A local Binance spot REST simulator that a real ccxt binance client can trade against.

In-process (async tests)::

    async with BinanceSimulator() as sim:
        exchange = make_ccxt_binance(sim.url)          # default key/secret, funded
        sim.set_price("BTC/USDT", "100000")
        sim.inject_fault("response_lost", "POST /api/v3/order")
        ...
        await exchange.close()

Out of process (Celery workers)::

    with SimulatorProcess() as proc:
        proc.client.set_price("BTC/USDT", 100000)      # same operations over HTTP
"""

from tests.exchange_sim.accounts import Account, Permissions
from tests.exchange_sim.ccxt_factory import make_ccxt_binance, point_at
from tests.exchange_sim.client import SimulatorClient, SimulatorControlError, SimulatorProcess
from tests.exchange_sim.errors import BinanceError
from tests.exchange_sim.faults import Fault
from tests.exchange_sim.market import DEFAULT_SYMBOLS, SymbolSpec
from tests.exchange_sim.orders import Order, Trade
from tests.exchange_sim.server import (
    DEFAULT_API_KEY,
    DEFAULT_BALANCES,
    DEFAULT_SECRET,
    BinanceSimulator,
    RequestRecord,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_BALANCES",
    "DEFAULT_SECRET",
    "DEFAULT_SYMBOLS",
    "Account",
    "BinanceError",
    "BinanceSimulator",
    "Fault",
    "Order",
    "Permissions",
    "RequestRecord",
    "SimulatorClient",
    "SimulatorControlError",
    "SimulatorProcess",
    "SymbolSpec",
    "Trade",
    "make_ccxt_binance",
    "point_at",
]
