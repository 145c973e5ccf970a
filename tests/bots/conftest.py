"""Bots tests create paper replay bots by default (``factories.grid_body``): the candles they
replay are stored, as a replay bot's create and start require."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from autogrid.core.db import Database
from autogrid.market_data.timeframes import timeframe_to_ms
from tests.exchanges.paper.helpers import real_candles, store_candles

# The first candles of the shared file, from 2025-05-20T00:00Z: the default body's start.
STORED_CANDLES = 30


async def store_replay_candles(db: Database) -> None:
    """What the default bot body (``factories.grid_body``) replays."""
    await store_candles(db, real_candles(STORED_CANDLES))


@pytest.fixture(autouse=True)
async def replay_candles(db: Database) -> None:
    await store_replay_candles(db)


async def store_series(db: Database, *, exchange: str = "binance", timeframe: str = "1m") -> None:
    """A few candles of another series from the default start (prices do not matter here)."""
    step = timedelta(milliseconds=timeframe_to_ms(timeframe))
    first = real_candles(3)
    candles = [replace(c, ts=first[0].ts + i * step) for i, c in enumerate(first)]
    await store_candles(db, candles, timeframe=timeframe, exchange=exchange)
