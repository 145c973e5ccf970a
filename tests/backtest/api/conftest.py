"""Fixtures of the backtest API tests: real candles in the database, a recording task queue,
and bodies that are valid as they are."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.results import build_result
from autogrid.backtest.tasks import CeleryBacktestQueue
from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.market_data.service import import_candle_file
from autogrid.models.backtest import Backtest
from autogrid.trading.candles import CandleArrays
from tests.helpers import ApiUser
from tests.shared_data import shared_file

BACKTESTS = "/api/v1/backtests"
SWEEPS = f"{BACKTESTS}/sweeps"
CANDLE_ROWS = 3000  # 2025-05-20T00:00Z to 2025-05-22T01:59Z, BTC between 104,198 and 110,524
FIRST_OPEN = "2025-05-20T00:00:00Z"
AFTER_LAST = "2025-05-22T02:00:00Z"

GRID_CONFIG: dict[str, Any] = {
    "lower_price": "103000",
    "upper_price": "112000",
    "grid_count": 20,
    "investment": "5000",
    "direction": "neutral",  # sells from the start too: about 90 fills in these two days
}
BODY: dict[str, Any] = {
    "type": "grid",
    "config": GRID_CONFIG,
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "timeframe": "1m",
    "start": FIRST_OPEN,
    "end": AFTER_LAST,
    "initial_balance": "10000",
    "fees": {"maker": "0.001", "taker": "0.001"},
    "slippage": "0.0005",
}


def body(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BODY)
    data.update(changes)
    return data


def with_config(**changes: Any) -> dict[str, Any]:
    data = body()
    data["config"].update(changes)
    return data


def sweep_body(vary: dict[str, list[Any]], **changes: Any) -> dict[str, Any]:
    return {"base": body(), "vary": vary, **changes}


@pytest.fixture(scope="session")
def candle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first CANDLE_ROWS real 1m BTC/USDT candles, verbatim, as a gzipped CSV."""
    with gzip.open(shared_file("binance_BTC_USDT-1m.csv.gz"), "rt", newline="") as source:
        lines = [source.readline() for _ in range(CANDLE_ROWS + 1)]
    path = tmp_path_factory.mktemp("candles") / "btc-1m.csv.gz"
    with gzip.open(path, "wt", newline="") as target:
        target.writelines(lines)
    return path


@pytest.fixture
async def candles(db: Database, candle_file: Path) -> Path:
    """The candles, imported into the database through the market data service."""
    async with db.session_scope() as session:
        report = await import_candle_file(
            session, candle_file, exchange="binance", symbol="BTC/USDT", timeframe="1m"
        )
    assert report.inserted == CANDLE_ROWS
    return candle_file


class RecordingQueue:
    """Stands in for Celery: records what was sent and whether the rows were committed then."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent: list[uuid.UUID] = []
        self.chunk_runs: list[int] = []
        self.visible_when_sent: list[bool] = []
        self.sent_event = threading.Event()

    def send(self, backtest_ids: Sequence[uuid.UUID], chunk_runs: int = 1) -> None:
        # Called in a worker thread: look at the database from a fresh connection, as a worker.
        visible = asyncio.run(_committed(self.settings, list(backtest_ids)))
        self.visible_when_sent.append(visible)
        self.sent.extend(backtest_ids)
        self.chunk_runs.append(chunk_runs)
        self.sent_event.set()


async def _committed(settings: Settings, ids: list[uuid.UUID]) -> bool:
    database = Database.from_settings(settings, pooled=False)
    try:
        async with database.session_scope() as session:
            found = [await session.get(Backtest, backtest_id) for backtest_id in ids]
    finally:
        await database.dispose()
    return all(row is not None for row in found)


@pytest.fixture
def queue(app: FastAPI, settings: Settings) -> RecordingQueue:
    recording = RecordingQueue(settings)
    app.state.backtest_queue = recording
    return recording


@pytest.fixture
def celery_queue(app: FastAPI) -> Iterator[None]:
    """The real queue (a Celery app built from the settings); its connections closed after."""
    yield
    queue = getattr(app.state, "backtest_queue", None)
    if isinstance(queue, CeleryBacktestQueue):
        queue.app.close()


async def submit(
    client: httpx.AsyncClient, user: ApiUser, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(BACKTESTS, json=data or body(), headers=user.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


async def set_row(db: Database, backtest_id: str | uuid.UUID, **fields: Any) -> None:
    async with db.session_scope() as session:
        row = await session.get(Backtest, uuid.UUID(str(backtest_id)))
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)


async def row_of(db: Database, backtest_id: str | uuid.UUID) -> Backtest | None:
    async with db.session_scope() as session:
        return await session.get(Backtest, uuid.UUID(str(backtest_id)))


async def direct_results(candle_file: Path, data: dict[str, Any]) -> dict[str, Any]:
    """What ``run_backtest`` says for the body, on the candles read straight from the file, with
    the rules the API validated against (the tests' offline ones) and the body's fees."""
    market = await conservative_market_rules(data["exchange"], data["symbol"])
    fees = data["fees"]
    market = replace(market, maker_fee=Decimal(fees["maker"]), taker_fee=Decimal(fees["taker"]))
    settings = BacktestSettings(
        market,
        initial_quote=Decimal(data["initial_balance"]),
        maker_fee=market.maker_fee,
        taker_fee=market.taker_fee,
        slippage=Decimal(data["slippage"]),
        timeframe_ms=60_000,
    )
    candles = _in_range(load_candles(candle_file), data["start"], data["end"])
    strategy = build_strategy(data["type"], data["config"], market)
    run = run_backtest(strategy, candles, settings)
    result = build_result(run, candles, settings, strategy=data["type"]).to_dict()
    comparable: dict[str, Any] = json.loads(json.dumps(result))
    return comparable


def _in_range(candles: CandleArrays, start: str, end: str) -> CandleArrays:
    """The candles with ``start <= open time < end``, as the worker loads them."""
    first, last = (
        int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1000)
        for moment in (start, end)
    )
    begin, stop = np.searchsorted(candles.ts_ms, [first, last])
    return candles.window(int(stop), int(stop - begin))


def comparable(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored results without what differs between two runs of the same backtest."""
    return {
        name: value
        for name, value in stored.items()
        if name not in ("run_seconds", "closed_trades_total")
    }
