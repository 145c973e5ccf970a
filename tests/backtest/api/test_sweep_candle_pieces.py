"""Worker processes reaching a long range together load it in pieces between them, from the
database: each piece once, two at once in each process, and every process gets the range whole."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autogrid.backtest import candle_files
from autogrid.backtest.candle_cache import CandleCache, Loaded
from autogrid.core.db import Database
from autogrid.market_data import repository as candles_repository
from autogrid.trading.candles import CandleArrays
from tests.backtest.api.conftest import AFTER_LAST, FIRST_OPEN
from tests.backtest.test_candle_files import bits

START, END = (datetime.fromisoformat(moment) for moment in (FIRST_OPEN, AFTER_LAST))
SERIES = ("binance", "BTC/USDT", "1m")


async def test_processes_load_a_long_range_in_pieces_between_them(
    candles: Path, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(candle_files, "PIECE_MIN_CANDLES", 1000)  # the 3,000 candles are long
    loads: list[tuple[datetime, datetime]] = []
    apart: list[datetime] = []
    load_arrays, load_arrays_apart = (
        candles_repository.load_arrays,
        candles_repository.load_arrays_apart,
    )

    async def recorded(*args: Any) -> CandleArrays:
        loads.append((args[4], args[5]))
        return await load_arrays(*args)

    async def recorded_apart(*args: Any) -> CandleArrays:
        apart.append(args[4])
        return await load_arrays_apart(*args)

    monkeypatch.setattr(candles_repository, "load_arrays", recorded)
    monkeypatch.setattr(candles_repository, "load_arrays_apart", recorded_apart)
    sweep = uuid.uuid4()

    async def worker_process() -> Loaded:  # its own cache, session and lock descriptors
        async with db.session_scope() as session:
            return await CandleCache().load(
                session, sweep, *SERIES, START, END, shared_dir=tmp_path
            )

    first, second = await asyncio.gather(worker_process(), worker_process())

    async with db.session_scope() as session:
        whole = await load_arrays(session, *SERIES, START, END)
        version = await candles_repository.range_version(session, *SERIES, START, END)
    cut = candle_files.pieces(*SERIES, START, END, version, timedelta(minutes=1))
    assert len(whole) == 3000
    assert bits(first.candles) == bits(second.candles) == bits(whole)
    assert sorted(loads) == [(piece.start, piece.end) for piece in cut]  # each piece once
    assert apart  # a second lane in a process, on a connection of its own
