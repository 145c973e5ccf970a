"""A long range loaded in parts at once gives the very candles one load gives, all of one
moment: a write committed while the parts load is seen by none of them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.exchanges.types import CandleData
from autogrid.market_data import repository
from autogrid.market_data.candle_upserts import upsert_candles
from autogrid.market_data.repository import load_arrays, load_arrays_in_parts
from autogrid.market_data.service import import_candle_file
from autogrid.models.candle import Candle
from tests.helpers import CountedCalls
from tests.market_data.test_load_arrays import START, assert_identical

SERIES = ("binance", "BTC/USDT", "1m")
END = START + timedelta(minutes=5000)  # the 5,000 candles' range: parts meet on candles


@pytest.fixture
async def stored(db: Database, btc_1m_5000: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The 5,000 real candles stored, and ranges that long loaded in parts."""
    monkeypatch.setattr(repository, "SPLIT_MIN_CANDLES", 1000)
    async with db.session_scope() as session:
        await import_candle_file(
            session, btc_1m_5000, exchange="binance", symbol="BTC/USDT", timeframe="1m"
        )
    return db


@pytest.mark.parametrize("parts", [2, 3, 7])
async def test_the_parts_are_the_candles_of_one_load(stored: Database, parts: int) -> None:
    ranges = [(START, END), (START + timedelta(minutes=17, seconds=30), END - timedelta(hours=7))]
    for start, end in ranges:
        async with stored.session_scope() as session:
            whole = await load_arrays(session, *SERIES, start, end)
            with pytest.MonkeyPatch.context() as patch:
                copies = CountedCalls(patch, repository, "_copy")
                split = await load_arrays_in_parts(session, *SERIES, start, end, parts)
        assert copies.calls == parts
        assert_identical(split, whole)


async def test_a_write_committed_while_the_parts_load_is_seen_by_none(
    stored: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last part's COPY starts only after a correction of its candles has committed: it
    still reads the candles as they were when the first part began (one snapshot)."""
    async with stored.session_scope() as session:
        before = await load_arrays(session, *SERIES, START, END)
        last = (await session.execute(select(Candle).order_by(Candle.ts.desc()).limit(1))).scalar()
    assert last is not None
    copy = repository._copy

    async def write_first(driver: Any, query: str, bounds: tuple[Any, ...]) -> bytes:
        if bounds[4] == END:  # the last part: a writer commits before its COPY
            async with stored.session_scope() as session:
                higher = last.high + Decimal(1)
                corrected = CandleData(last.ts, last.open, higher, last.low, higher, last.volume)
                counts = await upsert_candles(session, *SERIES, [corrected])
            assert counts.updated == 1
        return await copy(driver, query, bounds)

    monkeypatch.setattr(repository, "_copy", write_first)
    async with stored.session_scope() as session:
        split = await load_arrays_in_parts(session, *SERIES, START, END, 2)

    assert_identical(split, before)
    monkeypatch.setattr(repository, "_copy", copy)
    async with stored.session_scope() as session:  # the write did land
        after = await load_arrays(session, *SERIES, START, END)
    assert after.close[-1] != before.close[-1]


async def test_a_pool_without_connections_to_spare_loads_by_one_copy(
    stored: Database, settings: Settings
) -> None:
    """The smallest pool (two connections), one held by the session: the parts would wait for
    connections that never come back; one COPY loads the range instead."""
    small = Database.from_settings(settings.model_copy(update={"database_pool_size": 1}))
    try:
        async with small.session_scope() as session:
            await session.execute(select(1))  # the session holds one of the two
            whole = await load_arrays(session, *SERIES, START, END)
            with pytest.MonkeyPatch.context() as patch:
                copies = CountedCalls(patch, repository, "_copy")
                split = await load_arrays_in_parts(session, *SERIES, START, END, 2)
    finally:
        await small.dispose()

    assert copies.calls == 1
    assert_identical(split, whole)
