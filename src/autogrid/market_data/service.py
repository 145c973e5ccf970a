"""Import a candle file into ``ohlcv``: read and check it in batches, upsert each batch.

Idempotent: importing the same file again changes nothing (every row counts as unchanged), files
that overlap merge, and a stored candle whose values differ from the file's is updated to the
file's values and counted as updated. The whole file is one transaction (the caller's
``session_scope`` commits), so a bad row on line 90,000 leaves the table as it was.
Memory stays bounded: only one batch of candles is held at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.market_data.candle_batch import CandleBatch
from autogrid.market_data.candle_upserts import UpsertCounts, upsert_batch
from autogrid.market_data.parsers import CandleReader
from autogrid.market_data.series import DEFAULT_GAP_EXAMPLES, GapReport
from autogrid.market_data.timeframes import Timeframe, ms_to_datetime, parse_timeframe
from autogrid.models.candle import Candle

# 20,000 candles are about 15 MB of Python objects; larger batches were not measurably faster.
DEFAULT_BATCH_ROWS = 20_000


class InvalidSeriesKey(ValueError):
    """An exchange or symbol name that the ``ohlcv`` key columns cannot hold."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    source: str
    exchange: str
    symbol: str
    timeframe: str
    file_format: str
    rows_read: int
    counts: UpsertCounts
    first_ts: datetime | None
    last_ts: datetime | None
    gaps: GapReport

    @property
    def inserted(self) -> int:
        return self.counts.inserted

    @property
    def updated(self) -> int:
        return self.counts.updated

    @property
    def unchanged(self) -> int:
        return self.counts.unchanged


async def import_candle_file(
    session: AsyncSession,
    path: Path,
    *,
    exchange: str,
    symbol: str,
    timeframe: str | Timeframe,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    gap_examples: int = DEFAULT_GAP_EXAMPLES,
) -> ImportReport:
    """Check and upsert every candle of ``path``; raise ``CandleFileError`` on the first bad row."""
    frame = timeframe if isinstance(timeframe, Timeframe) else parse_timeframe(timeframe)
    _check_key_part("exchange", exchange)
    _check_key_part("symbol", symbol)
    reader = CandleReader(path, frame, gap_examples=gap_examples)
    batches = reader.batches(batch_rows)
    copy = session.get_bind().dialect.name == "postgresql"
    counts = UpsertCounts()
    # Read the next batch in a worker thread while the database stores the current one: parsing
    # is the slower half, and the event loop stays free for other work meanwhile.
    pending = asyncio.ensure_future(asyncio.to_thread(_read_batch, batches, copy))
    try:
        while (batch := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(_read_batch, batches, copy))
            counts += await upsert_batch(session, exchange, symbol, frame.name, batch)
    finally:
        # On a database error, wait for the reader thread so the file is not read concurrently
        # with its closing; its own error, if any, is secondary to the one being raised.
        if not pending.done():
            await asyncio.wait([pending])
        if pending.done() and not pending.cancelled():
            pending.exception()
    return ImportReport(
        source=str(path),
        exchange=exchange,
        symbol=symbol,
        timeframe=frame.name,
        file_format=str(reader.format),
        rows_read=reader.rows_read,
        counts=counts,
        first_ts=None if reader.first_ms is None else ms_to_datetime(reader.first_ms),
        last_ts=None if reader.last_ms is None else ms_to_datetime(reader.last_ms),
        gaps=reader.gap_report(),
    )


def _read_batch(batches: Iterator[CandleBatch], copy: bool) -> CandleBatch | None:
    batch = next(batches, None)
    if batch is not None and copy:
        batch.copy_rows  # noqa: B018 -- cached: built here rather than on the event loop
    return batch


def _check_key_part(name: str, value: str) -> None:
    max_length = cast(String, getattr(Candle, name).type).length or 0
    if not value or value != value.strip():
        raise InvalidSeriesKey(f"{name} must be a non-empty name without surrounding spaces")
    if len(value) > max_length:
        raise InvalidSeriesKey(f"{name} {value!r} is longer than {max_length} characters")
