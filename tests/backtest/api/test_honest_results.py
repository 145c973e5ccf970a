"""What the API's stored results say about a real two-day grid backtest: no figure scaled to a
year from two days, and each closed trade stamped with the open time of the candle it filled in."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from autogrid.backtest.tasks import Outcome, execute_backtest
from autogrid.core.config import Settings
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
