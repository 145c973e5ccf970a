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
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.market_data.candle_batch import CandleBatch
from autogrid.market_data.candle_upserts import PricesRefused, UpsertCounts, upsert_batch
from autogrid.market_data.parsers import CandleFileError, CandleReader
from autogrid.market_data.series import DEFAULT_GAP_EXAMPLES, GapReport
from autogrid.market_data.timeframes import Timeframe, ms_to_datetime, parse_timeframe
from autogrid.models.candle import Candle

# 20,000 candles are about 15 MB of Python objects; larger batches were not measurably faster.
DEFAULT_BATCH_ROWS = 20_000
# PostgreSQL: a batch is parsed in this many steps, one after each piece of the COPY before it.
STEPS_PER_BATCH = 8


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
    """PostgreSQL: each batch's COPY is sent in pieces, and the next batch is parsed a step at a
    time between them, on this thread: the server stores a piece while the next step is parsed.

    A reader thread (as for SQLite) overlapped the two less than it seemed: it held the
    interpreter's lock through long C calls (a block's regular expression, its split), while
    the event loop waited for the lock to send the server its next data, so the server sat idle
    (the import ran at little more than half of a plain COPY's speed). The loop is now held by
    the parse a step at a time (a few milliseconds; the first batch's steps in a row): meant
    for the command line's import, not for a process serving requests."""
    step_rows = max(1, batch_rows // STEPS_PER_BATCH)
    counts = UpsertCounts()
    # The prices are checked by the server, on the stored NUMERIC values: parsing them as floats
    # to compare them was most of the parse, the slower half of the import until then.
    steps = reader.batches(step_rows, check_prices=False)
    with closing(steps):  # the file closed even on an error
        upcoming = _Upcoming(steps, batch_rows)
        try:
            while (batch := upcoming.complete()) is not None:
                counts += await upsert_batch(session, *series, batch, meanwhile=upcoming.step)
        except PricesRefused as refused:
            # The first bad row of the file is in this batch (the earlier ones passed every
            # check, and only the prices went unchecked): the row-by-row read words it, at its
            # line, as an import that checked them itself.
            raise reader.first_error() or _refused(reader, refused) from None
    return counts


def _refused(reader: CandleReader, refused: PricesRefused) -> CandleFileError:
    """Should the file read row by row show no error (the two checks disagree): the server's."""
    return CandleFileError(str(reader.path), "line", None, str(refused))


class _Upcoming:
    """The next batch, parsed a step at a time (``step``) while the current one is sent."""

    def __init__(self, steps: Iterator[CandleBatch], rows: int) -> None:
        self._steps = steps
        self._rows = rows
        self._parts: list[CandleBatch] = []
        self._held = 0
        self._read = False  # the file's end reached
        self._error: Exception | None = None

    def step(self) -> None:
        """Parse one more step, unless the batch is full or the file read. Never raises: an
        error of the file is kept for ``complete``, which raises it where the batch it belongs
        to is taken. The COPY under way holds none of that batch's rows and ends as usual;
        raised inside it, the error would reach the caller through the driver's abort of it."""
        if self._read or self._error is not None or self._held >= self._rows:
            return
        try:
            part = next(self._steps, None)
            if part is not None:
                part.copy_rows  # noqa: B018 -- cached: built in this step, not all at the end
        except Exception as error:
            self._error = error
            return
        if part is None:
            self._read = True
            return
        self._parts.append(part)
        self._held += len(part)

    def complete(self) -> CandleBatch | None:
        """The next batch, its steps not yet parsed parsed now; None once the file is read.
        Raises the file's first error, found by a step now or earlier."""
        while not (self._read or self._error is not None or self._held >= self._rows):
            self.step()
        if self._error is not None:
            raise self._error
        parts, self._parts, self._held = self._parts, [], 0
        return CandleBatch.joined(parts) if parts else None


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
