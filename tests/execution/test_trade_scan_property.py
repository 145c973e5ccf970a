"""Property: however a busy account's trades crowd into milliseconds (fewer than a page in any
one), scanning the history call after call, each call starting where the last stopped, reads every
trade, never more than ``SCAN_PAGES`` requests a call, and the cursor moves on until the end.

Each example runs its own simulator and a real ccxt connector (the scan's only I/O)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.execution.trade_scan import SCAN_PAGE, SCAN_PAGES, scan_history
from autogrid.market_data.timeframes import ms_to_datetime
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import CREDENTIALS, FAST_RETRY, sim_api_urls

BTC = "BTC/USDT"
MY_TRADES = "/api/v3/myTrades"
# (trades in one millisecond, milliseconds after the previous burst): fewer than a page in any
# one millisecond, which a scan by time alone cannot tell apart (it steps past them, logging it).
bursts = st.lists(
    st.tuples(st.integers(1, SCAN_PAGE - 1), st.integers(1, 3)), min_size=1, max_size=7
)


async def scan_everything(trades_at: list[tuple[int, int]]) -> None:
    async with BinanceSimulator() as sim:
        connector = CcxtConnector(
            "binance", CREDENTIALS, retry_policy=FAST_RETRY, api_urls=sim_api_urls(sim.url)
        )
        connector._exchange.timeout_on_exit = 0
        try:
            start = sim.now_ms() - 600_000
            moment = start
            for count, gap in trades_at:
                moment += gap
                sim.exchange.clock = lambda at=moment: at  # type: ignore[misc]
                sim.add_past_trades(count, BTC)
            expected = {str(t.trade_id) for t in sim.trades()}

            read: set[str] = set()
            since = ms_to_datetime(start)
            while True:
                before = len(sim.request_log("GET", MY_TRADES))
                scanned = await scan_history(connector, BTC, since)
                assert len(sim.request_log("GET", MY_TRADES)) - before <= SCAN_PAGES
                read |= {t.trade_id for t in scanned.trades}
                assert scanned.scanned_to is not None and scanned.scanned_to >= since
                if scanned.scanned_to == since:  # nothing further: the end of the history
                    break
                since = scanned.scanned_to
            assert read == expected
            assert since == ms_to_datetime(moment)  # the cursor rests on the last trade
        finally:
            await connector.close()


@settings(max_examples=15, deadline=None)
@given(bursts)
def test_repeated_bounded_scans_read_every_trade(trades_at: list[tuple[int, int]]) -> None:
    asyncio.run(scan_everything(trades_at))
