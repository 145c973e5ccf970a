"""Every AutoGrid process of a chaos run: ``python -m chaoskit.child serve|worker|beat``.

A real deployment's ccxt talks to api.binance.com; here it must talk to the exchange simulator
instead, and nothing may leave this machine. The runtime's own URL override is a test hook that
production mode refuses (by design), so this launcher points ccxt's Binance URLs at the simulator
for every connector the process builds (API, workers and beat alike), refuses any connection off
loopback, and then runs the ordinary ``autogrid`` command in production mode.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SIM_URL_ENV = "CHAOS_SIM_URL"


def simulator_urls(sim_url: str) -> dict[str, str]:
    """Every Binance REST base URL of ccxt with its host replaced by the simulator's."""
    import ccxt

    target = urlsplit(sim_url)
    urls: Mapping[str, Any] = ccxt.binance().urls["api"]
    return {
        name: urlunsplit((target.scheme, target.netloc, *urlsplit(url)[2:]))
        for name, url in urls.items()
        if isinstance(url, str) and url.startswith("http")
    }


def point_binance_at(sim_url: str) -> None:
    """Every CcxtConnector for binance built in this process uses the simulator's URLs."""
    from autogrid.exchanges.ccxt.connector import CcxtConnector

    urls = simulator_urls(sim_url)
    original = CcxtConnector.__init__

    def init(self: CcxtConnector, exchange_id: str, *args: Any, **kwargs: Any) -> None:
        if exchange_id == "binance" and not kwargs.get("api_urls"):
            kwargs["api_urls"] = urls
        original(self, exchange_id, *args, **kwargs)

    CcxtConnector.__init__ = init  # type: ignore[method-assign]


def main() -> None:
    from tests.network_guard import refuse_outside_connections

    # Entered for the life of the process (and of its forked pool children): never left.
    refuse_outside_connections().__enter__()
    point_binance_at(os.environ[SIM_URL_ENV])
    from autogrid.cli.group import main as autogrid_main

    sys.argv = ["autogrid", *sys.argv[1:]]
    autogrid_main()


if __name__ == "__main__":
    main()
