"""Import a candle file into ``ohlcv``: read and check it in batches, upsert each batch.

Idempotent: importing the same file again changes nothing (every row counts as unchanged), files
that overlap merge, and a stored candle whose values differ from the file's is updated to the
file's values and counted as updated. The whole file is one transaction (the caller's
``session_scope`` commits), so a bad row on line 90,000 leaves the table as it was.
Memory stays bounded: at most two batches of candles are held (the one written, the next read).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.market_data.candle_batch import CandleBatch
from autogrid.market_data.candle_upserts import (
    PricesRefused,
    UpsertCounts,
    insert_streamed,
    upsert_batch,
)
from autogrid.market_data.parsers import CandleFileError, CandleReader
from autogrid.market_data.series import DEFAULT_GAP_EXAMPLES, GapReport
from autogrid.market_data.timeframes import Timeframe, ms_to_datetime, parse_timeframe
from autogrid.models.candle import Candle

# 20,000 candles are about 15 MB of Python objects; larger batches were not measurably faster.
DEFAULT_BATCH_ROWS = 20_000
# PostgreSQL: the file is parsed (and sent) in steps of this share of a batch.
STEPS_PER_BATCH = 8
# Steps parsed ahead after each piece of a merge's COPY: the staging table takes a piece in
# about the time two steps are parsed, so the next batch is ready when the merge ends.
AHEAD_STEPS = 2


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
    series = (exchange, symbol, frame.name)
    if session.get_bind().dialect.name == "postgresql":
        counts = await _import_streamed(session, reader, series, batch_rows)
    else:
        counts = await _import_threaded(session, reader, series, batch_rows)
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


async def _import_streamed(
    session: AsyncSession, reader: CandleReader, series: tuple[str, str, str], batch_rows: int
) -> UpsertCounts:
    """PostgreSQL: the file is parsed in steps of ``batch_rows / STEPS_PER_BATCH`` candles, each
    as its COPY takes it (``insert_streamed``): the server stores one step while the next is
    parsed, on this thread, from the first candle on.

    A reader thread (as for SQLite) overlapped the two less than it seemed: it held the
    interpreter's lock through long C calls (a block's regular expression, its split), while
    the event loop waited for the lock to send the server its next data, so the server sat idle
    (the import ran at little more than half of a plain COPY's speed). The loop is now held by
    the parse a step at a time (a few milliseconds): meant for the command line's import, not
    for a process serving requests."""
    step_rows = max(1, batch_rows // STEPS_PER_BATCH)
    counts = UpsertCounts()
    # The prices are checked by the server, on the stored NUMERIC values: parsing them as floats
    # to compare them was most of the parse (the client's CPU; the server's barely grows).
    steps = reader.batches(step_rows, check_prices=False)
    with closing(steps):  # the file closed even on an error
        source = _Steps(steps, batch_rows)
        try:
            while (first := source.take()) is not None:
                counts += await insert_streamed(
                    session, *series, first, source, max_rows=batch_rows
                )
        except PricesRefused as refused:
            # The first bad row of the file is in the candles just sent (the earlier ones
            # passed every check, and only the prices went unchecked): the row-by-row read
            # words it, at its line, as an import that checked them itself.
            raise reader.first_error() or _refused(reader, refused) from None
    return counts


def _refused(reader: CandleReader, refused: PricesRefused) -> CandleFileError:
    """Should the file read row by row show no error (the two checks disagree): the server's."""
    return CandleFileError(str(reader.path), "line", None, str(refused))


class _Steps:
    """A reader's batches for ``insert_streamed``: each parsed (its COPY text too) when taken,
    or ahead (``ahead``, while a merge's COPY is sent), up to ``most_rows`` candles ahead."""

    def __init__(self, steps: Iterator[CandleBatch], most_rows: int) -> None:
        self._steps = steps
        self._most_rows = most_rows
        self._held: deque[CandleBatch] = deque()
        self._held_rows = 0
        self._error: Exception | None = None  # met parsing ahead: raised when that step is due

    def take(self) -> CandleBatch | None:
        if self._held:
            step = self._held.popleft()
            self._held_rows -= len(step)
            return step
        if self._error is not None:
            raise self._error
        return self._parsed()

    def put_back(self, step: CandleBatch) -> None:
        self._held.appendleft(step)
        self._held_rows += len(step)

    def ahead(self) -> None:
        """Parse the next steps now (``AHEAD_STEPS``), unless enough are. Never raises: the
        file's error is kept for ``take``, which raises it where that step would have come."""
        for _ in range(AHEAD_STEPS):
            if self._error is not None or self._held_rows >= self._most_rows:
                return
            try:
                step = self._parsed()
            except Exception as error:
                self._error = error
                return
            if step is None:
                return
            self._held.append(step)
            self._held_rows += len(step)

    def _parsed(self) -> CandleBatch | None:
        step = next(self._steps, None)
        if step is not None:
            step.copy_rows  # noqa: B018 -- cached: built with the step
        return step


async def _import_threaded(
    session: AsyncSession, reader: CandleReader, series: tuple[str, str, str], batch_rows: int
) -> UpsertCounts:
    """SQLite: the next batch is read in a worker thread while the database stores the current
    one (SQLite's own work releases the interpreter's lock); the event loop stays free."""
    batches = reader.batches(batch_rows)
    counts = UpsertCounts()
    pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    try:
        while (batch := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            counts += await upsert_batch(session, *series, batch)
    finally:
        # On a database error, wait for the reader thread so the file is not read concurrently
        # with its closing; its own error, if any, is secondary to the one being raised.
        if not pending.done():
            await asyncio.wait([pending])
        if pending.done() and not pending.cancelled():
            pending.exception()
    return counts


def _check_key_part(name: str, value: str) -> None:
    max_length = cast(String, getattr(Candle, name).type).length or 0
    if not value or value != value.strip():
        raise InvalidSeriesKey(f"{name} must be a non-empty name without surrounding spaces")
    if len(value) > max_length:
        raise InvalidSeriesKey(f"{name} {value!r} is longer than {max_length} characters")
