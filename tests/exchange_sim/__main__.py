"""Run the simulator as its own process: ``python -m tests.exchange_sim --port 8765``.

Prints ``LISTENING http://127.0.0.1:<port>`` once it serves (``--port 0`` picks a free port),
then runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from tests.exchange_sim.client import READY_PREFIX
from tests.exchange_sim.server import BinanceSimulator


async def serve(host: str, port: int, load_default_candles: bool) -> None:
    simulator = BinanceSimulator(host=host, port=port, load_default_candles=load_default_candles)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with simulator:
        print(READY_PREFIX + simulator.url, flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Binance spot REST simulator for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--no-default-candles", action="store_true", help="do not load the BTC/USDT 1m data file"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, not args.no_default_candles))


if __name__ == "__main__":
    main()
