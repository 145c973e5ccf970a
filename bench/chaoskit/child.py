"""Every AutoGrid process of a chaos run: ``python -m chaoskit.child serve|worker|beat``.

A real deployment's ccxt talks to api.binance.com; here it must talk to the exchange simulator
instead, and nothing may leave this machine. The run points ccxt's Binance URLs at the simulator
with the ordinary ``EXCHANGE_API_URLS`` setting (``simulator_urls``, set by the parent); this
launcher only refuses any connection off loopback, for the life of the process and of its forked
pool children, and then runs the ordinary ``autogrid`` command in production mode.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@cache
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


def main() -> None:
    from tests.network_guard import refuse_outside_connections

    # Entered for the life of the process (and of its forked pool children): never left.
    refuse_outside_connections().__enter__()
    from autogrid.cli.group import main as autogrid_main

    sys.argv = ["autogrid", *sys.argv[1:]]
    autogrid_main()


if __name__ == "__main__":
    main()
