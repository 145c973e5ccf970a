"""What the API's stored results say about a real two-day grid backtest: no figure scaled to a
year from two days, and each closed trade stamped with the open time of the candle it filled in."""

from __future__ import annotations

import csv
import gzip
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from autogrid.backtest.tasks import Outcome, execute_backtest
from autogrid.core.config import Settings
from autogrid.market_data.timeframes import ms_to_datetime
from tests.backtest.api.conftest import BACKTESTS, RecordingQueue, submit
from tests.helpers import ApiUser


async def results_of(
    client: httpx.AsyncClient, user: ApiUser, settings: Settings
) -> dict[str, Any]:
    created = await submit(client, user)
    assert await execute_backtest(uuid.UUID(created["id"]), settings) is Outcome.SUCCEEDED
    read = await client.get(f"{BACKTESTS}/{created['id']}", headers=user.headers)
    assert read.status_code == 200
    results: dict[str, Any] = read.json()["results"]
    return results


async def test_two_days_give_no_yearly_figures_and_say_why(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
) -> None:
    results = await results_of(client, user, settings)

    assert results["annualised"] is False
    assert results["span_days"] < 90
    assert "not given" in results["annualised_note"]
    assert [results[name] for name in ("cagr_pct", "sharpe", "sortino", "calmar")] == [None] * 4
    assert results["return_pct"] is not None and results["trades"] > 3


async def test_closed_trades_carry_the_open_time_of_the_candle_they_filled_in(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
) -> None:
    results = await results_of(client, user, settings)

    by_open = _file_candles(candles)
    trades = results["closed_trades"]
    # The neutral grid's initial market buy paid candle 1's open plus the 0.0005 slippage, at
    # that candle's open time: 2025-05-20T00:01Z, not its close a minute later.
    initial = [trade for trade in trades if trade["entry_time"] == "2025-05-20T00:01:00Z"]
    assert initial and all(
        Decimal(trade["entry_price"]) == by_open[trade["entry_time"]][0] * Decimal("1.0005")
        for trade in initial
    )
    for trade in trades:  # each limit sell names the candle whose range reached its price
        opened, high = by_open[trade["exit_time"]]
        assert opened <= Decimal(trade["exit_price"]) <= high


def _file_candles(path: Path) -> dict[str, tuple[Decimal, Decimal]]:
    """(open, high) by open time as the API writes times, read straight from the file."""
    with gzip.open(path, "rt") as handle:
        rows = list(csv.reader(handle))[1:]
    return {
        ms_to_datetime(int(ts)).isoformat().replace("+00:00", "Z"): (Decimal(o), Decimal(h))
        for ts, o, h, *_ in rows
    }
