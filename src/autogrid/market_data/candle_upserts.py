"""SQL writing the ``ohlcv`` table: idempotent bulk upserts.

Writing a candle whose key is already stored *updates* it when any value differs (an exchange
can correct a candle, and the newer file is taken to be right) and leaves it untouched when all
values are equal; every write reports how many rows were inserted, updated and unchanged.

Batches arrive as ``CandleBatch`` columns of decimal text, so no value is parsed or printed twice.

* PostgreSQL, a batch whose time range holds no stored candle of its series (a first import, or
  the new end of a series): COPY straight into ``ohlcv`` (text format: three times faster than
  asyncpg's binary encoding of Decimal), inside a savepoint; should a concurrent writer have
  stored some of the keys since the check, the savepoint is rolled back and the batch merged.
* PostgreSQL, otherwise: COPY into a transaction-local staging table, then one statement that
  joins it to the stored rows, inserts or updates only the new and differing ones (``INSERT ...
  ON CONFLICT DO UPDATE``) and returns the counts. All parts of one statement see the same
  snapshot, so "existed" means "existed before this batch".
* PostgreSQL, a file's import (``insert_streamed``): the candles are parsed in steps, each as
  the COPY takes it, so the server stores one step while the next is parsed; a merge's COPY
  goes in pieces, the next steps parsed between them.
* PostgreSQL, a batch whose prices were not checked when read (a file's fast reader leaves them
  to the server): its COPY's WHERE keeps the candles the reader would have, and a COPY that
  stored fewer rows than it was sent raises ``PricesRefused``, naming the first it refused.
* SQLite: the stored rows of the batch's time range are read and compared in Python (as the
  stored decimal text); only new or changed rows are written, with one ``executemany`` upsert.

Every write that changed a row, or inserted one before the series' last stored candle, also
bumps the series' write counter (``CandleSeriesVersion``) in the same transaction: the backtest
workers' candle caches are checked against it. Candles added after the last (the new candles of
a market, as they close) leave it: the versions of the ranges they fall in change by their last
open time, and those of the others need not (``repository.range_version``). This module is the
only writer of ``ohlcv`` (a test holds the code to it).

Nothing here commits: the caller's ``session_scope`` does, so a failed import leaves no rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any, Protocol

import asyncpg
from sqlalchemy import String, exists, select, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges.types import CandleData
from autogrid.market_data.candle_batch import CandleBatch
from autogrid.market_data.repository import VALUE_COLUMNS, series_filter
from autogrid.market_data.timeframes import datetime_to_ms, ms_to_datetime
from autogrid.models.candle import Candle, CandleSeriesVersion

# A piece of a merge's COPY data, sent before the importer parses ahead (``Steps.ahead``):
# about 3,000 rows of a 1m series.
COPY_PIECE_BYTES = 256 * 1024
_STAGING_TABLE = "ohlcv_incoming"  # also spelled out in the statements below
_OHLCV_COLUMNS = ("exchange", "symbol", "timeframe", "ts", *VALUE_COLUMNS)

_PG_CREATE_STAGING = text(
    # ON COMMIT DROP: the staging table lives exactly as long as the import's transaction.
    "CREATE TEMP TABLE IF NOT EXISTS ohlcv_incoming ON COMMIT DROP AS "
    "SELECT ts, open, high, low, close, volume FROM ohlcv WITH NO DATA"
)
_PG_TRUNCATE_STAGING = text("TRUNCATE ohlcv_incoming")
# What the reader demands of a row's prices (``parsers.CandleReader``: low positive, high at
# least the open and the close, low at most either): the WHERE of a COPY of candles whose prices
# were not checked when read. COPY skips the rows it refuses, and says how many it stored: one
# short means refused, for nothing more than the condition's own cost (a scan of the rows
# afterwards took a sixth of a first import's time).
_PG_PRICES_CONSISTENT = (
    "low > 0 AND high >= open AND high >= close AND low <= open AND low <= close"
)
_PG_UPSERT_FROM_STAGING = text(
    """
    WITH compared AS MATERIALIZED (
        SELECT incoming.*,
               stored.ts IS NOT NULL AS existed,
               stored.ts IS NULL
               OR (stored.open, stored.high, stored.low, stored.close, stored.volume)
                  IS DISTINCT FROM
                  (incoming.open, incoming.high, incoming.low, incoming.close, incoming.volume)
               AS differs
        FROM ohlcv_incoming AS incoming
        LEFT JOIN ohlcv AS stored
          ON stored.exchange = :exchange AND stored.symbol = :symbol
         AND stored.timeframe = :timeframe AND stored.ts = incoming.ts
         -- Bounds the index scan to the batch: the staging table has no statistics, and the
         -- planner must not hash a whole long series for every batch.
         AND stored.ts BETWEEN :first AND :last
    ),
    written AS (
        -- Equal rows are left out here rather than by ON CONFLICT's WHERE, which would still
        -- lock (and so write to) every one of them on a re-import.
        INSERT INTO ohlcv AS stored
            (exchange, symbol, timeframe, ts, open, high, low, close, volume)
        SELECT CAST(:exchange AS VARCHAR), CAST(:symbol AS VARCHAR), CAST(:timeframe AS VARCHAR),
               ts, open, high, low, close, volume
        FROM compared
        WHERE differs
        -- A concurrent import of the same candles may have stored them since the snapshot: the
        -- data stays right, only this batch's counts may then be off.
        ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE
        SET open = excluded.open, high = excluded.high, low = excluded.low,
            close = excluded.close, volume = excluded.volume
        WHERE (stored.open, stored.high, stored.low, stored.close, stored.volume)
              IS DISTINCT FROM
              (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM written) AS written,
           (SELECT count(*) FROM compared WHERE existed) AS existed
    """
)


class PricesRefused(ValueError):
    """A batch read without checking its prices (``CandleBatch.prices_checked``) holds a candle
    whose prices the database's check refused (``ts``: the first such open time)."""

    def __init__(self, ts: datetime) -> None:
        super().__init__(f"the prices of the candle opened at {ts.isoformat()} are inconsistent")
        self.ts = ts


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


async def upsert_candles(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    candles: Sequence[CandleData],
) -> UpsertCounts:
    """Insert new candles, update differing ones, count the equal ones; one key once (last wins).

    Values must fit NUMERIC(38,18), as the file reader checks: PostgreSQL would round the rest.
    """
    return await upsert_batch(
        session, exchange, symbol, timeframe, CandleBatch.from_candles(candles)
    )


async def upsert_batch(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    batch: CandleBatch,
) -> UpsertCounts:
    """``upsert_candles`` for a batch already in columns (strictly increasing open times)."""
    if not len(batch):
        return UpsertCounts()
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"candle storage does not support the {dialect} dialect")

    async def write() -> UpsertCounts:
        if dialect == "postgresql":
            return await _upsert_postgresql(session, exchange, symbol, timeframe, batch, None)
        return await _upsert_sqlite(session, exchange, symbol, timeframe, batch)

    series = (exchange, symbol, timeframe)
    return await _locked_write(session, dialect, series, int(batch.ts_ms[0]), write)


class Steps(Protocol):
    """Where ``insert_streamed`` takes its candles: batches in increasing time, parsed as taken."""

    def take(self) -> CandleBatch | None:
        """The next batch (parsed now if it was not yet), or None at the end."""

    def put_back(self, step: CandleBatch) -> None:
        """``step``, taken but not written, to be taken again first."""

    def ahead(self) -> None:
        """Parse batches ahead, if it is worth it, between the pieces of a merge's COPY (the
        server stores a piece meanwhile). Never raises: an error waits for its ``take``."""


async def insert_streamed(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    first: CandleBatch,
    more: Steps,
    *,
    max_rows: int,
) -> UpsertCounts:
    """PostgreSQL: ``upsert_batch`` of ``first`` and of the batches taken from ``more`` after it,
    up to ``max_rows`` candles, sent by one COPY that takes (parses) each batch as it sends the
    one before: the server stores while the caller parses, from the first candle on.

    Streamed while the candles fall where the series holds none (a first import, or its new
    end): the first batch that reaches a stored candle (or would pass ``max_rows``) is put back.
    ``first`` itself reaching one: ``first`` and what follows, up to ``max_rows``, are merged
    as one ``upsert_batch``. Should a concurrent writer store some of the keys meanwhile, the
    batches taken are merged instead. The prices of batches read without their checks are
    checked by the server, as ``upsert_batch`` does (``PricesRefused``)."""
    series = (exchange, symbol, timeframe)

    async def write() -> UpsertCounts:
        next_stored = await session.scalar(
            select(Candle.ts)
            .where(series_filter(*series), Candle.ts >= _time_range(first)[0])
            .order_by(Candle.ts)
            .limit(1)
        )
        if next_stored is not None and next_stored <= _time_range(first)[1]:
            taken = [first, *_taken_up_to(more, max_rows - len(first))]
            batch = CandleBatch.joined(taken)
            return await _upsert_postgresql(session, *series, batch, more.ahead)
        taken = [first]
        last_ms = None if next_stored is None else datetime_to_ms(next_stored)
        try:
            return await _copy_streamed(session, series, taken, more, max_rows, last_ms)
        except asyncpg.UniqueViolationError:  # stored by a concurrent writer since the check
            return await _upsert_postgresql(session, *series, CandleBatch.joined(taken), None)

    return await _locked_write(session, "postgresql", series, int(first.ts_ms[0]), write)


async def _copy_streamed(
    session: AsyncSession,
    series: tuple[str, str, str],
    taken: list[CandleBatch],
    more: Steps,
    max_rows: int,
    before_ms: int | None,
) -> UpsertCounts:
    """``insert_streamed``'s COPY, in a savepoint; ``taken`` (holding the first batch) gets every
    batch sent. ``before_ms``: the series' first stored candle after the first batch's start."""
    key = _series_key(series)

    async def data() -> AsyncIterator[bytes]:
        rows = len(taken[0])
        yield _keyed(key, taken[0])
        while (step := more.take()) is not None:
            if rows + len(step) > max_rows or (
                before_ms is not None and int(step.ts_ms[-1]) >= before_ms
            ):
                more.put_back(step)
                return
            taken.append(step)
            rows += len(step)
            yield _keyed(key, step)

    # A file's batches: their prices checked exactly when read, or not at all (filtered here).
    return await _copy_new(await _driver(session), series, data(), taken, filtered=True)


async def _copy_new(
    driver: Any,
    series: tuple[str, str, str],
    data: AsyncIterator[bytes],
    sent: list[CandleBatch],
    *,
    filtered: bool,
) -> UpsertCounts:
    """COPY ``data`` into ``ohlcv`` in a savepoint: candles where the series held none, of the
    batches ``sent`` lists once ``data`` is spent; ``filtered``, their prices checked by the
    server (``PricesRefused``: the savepoint is rolled back)."""
    async with driver.transaction():  # a savepoint inside the session's transaction
        status = await driver.copy_to_table(
            "ohlcv",
            source=data,
            columns=_OHLCV_COLUMNS,
            where=_PG_PRICES_CONSISTENT if filtered else None,
        )
        sent_rows = sum(map(len, sent))
        if _copied(status) != sent_rows:
            start, end = _time_range(sent[0])[0], _time_range(sent[-1])[1]
            stored = await driver.fetch(_PG_STORED_TS, *series, start, end)
            raise PricesRefused(_first_missing(sent, stored))
    return UpsertCounts(inserted=sent_rows)


# The open times a refused COPY did store, to name the first candle it did not.
_PG_STORED_TS = (
    "SELECT ts FROM ohlcv WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 "
    "AND ts BETWEEN $4 AND $5 ORDER BY ts"
)
_PG_STAGED_TS = "SELECT ts FROM ohlcv_incoming ORDER BY ts"


def _copied(status: str) -> int:
    """The rows a COPY stored, from its command tag (``COPY 1234``)."""
    tag, _, count = status.rpartition(" ")
    if tag != "COPY" or not count.isdigit():
        raise RuntimeError(f"unexpected COPY status {status!r}")
    return int(count)


def _first_missing(sent: list[CandleBatch], stored: Sequence[Any]) -> datetime:
    """The open time of the first candle of ``sent`` that is not among the ``stored`` rows
    (``ts``): the one the COPY's condition refused."""
    stored_ms = {datetime_to_ms(row["ts"]) for row in stored}
    for batch in sent:
        for ts_ms in batch.ts_ms.tolist():
            if ts_ms not in stored_ms:
                return ms_to_datetime(ts_ms)
    raise RuntimeError("a COPY stored fewer rows than sent, yet every open time is stored")


def _series_key(series: tuple[str, str, str]) -> bytes:
    """The series' columns as the start of a COPY line."""
    return "".join(f"{_copy_field(part)}\t" for part in series).encode()


def _keyed(key: bytes, step: CandleBatch) -> bytes:
    """``step``'s COPY rows with the series key in front of each: one C-level replace, not a
    loop over rows."""
    rows = step.copy_rows.encode()
    return key + rows[:-1].replace(b"\n", b"\n" + key) + b"\n"


def _taken_up_to(more: Steps, rows: int) -> list[CandleBatch]:
    taken: list[CandleBatch] = []
    while rows > 0 and (step := more.take()) is not None:
        if len(step) > rows:
            more.put_back(step)
            break
        taken.append(step)
        rows -= len(step)
    return taken


async def _locked_write(
    session: AsyncSession,
    dialect: str,
    series: tuple[str, str, str],
    first_ms: int,
    write: Callable[[], Awaitable[UpsertCounts]],
) -> UpsertCounts:
    """``write`` with the series locked, then its write counter bumped if the write calls for it
    (``first_ms``: the first open time written)."""
    version = _series_version(dialect, *series)
    # Locked before any candle is written: a concurrent writer of the series waits here until
    # this transaction ends, holding none of the candles this one may go on to write (locked
    # after them, each of two writers could wait for the other: a deadlock).
    await session.execute(version.on_conflict_do_update(index_elements=_KEY, set_=_SAME))
    # Read once the lock is held (a statement of its own: its snapshot sees what a writer
    # before this one committed).
    last_stored = await session.scalar(
        select(Candle.ts).where(series_filter(*series)).order_by(Candle.ts.desc()).limit(1)
    )
    counts = await write()
    appended = last_stored is None or ms_to_datetime(first_ms) > last_stored
    if counts.updated or (counts.inserted and not appended):
        # One more write of the series, in the writing transaction: its candles cached before
        # are no longer served (``repository.range_version``). A re-import that changed
        # nothing leaves it, and the caches with it; so do candles added after the series'
        # last (the market's new candles, as they close): a range they fall in sees its last
        # open time change, and the ranges they do not are as they were.
        await session.execute(version.on_conflict_do_update(index_elements=_KEY, set_=_BUMPED))
    return counts


_KEY = ("exchange", "symbol", "timeframe")
_SAME = {"writes": CandleSeriesVersion.writes}  # an update all the same: the row is locked
_BUMPED = {"writes": CandleSeriesVersion.writes + 1}


def _series_version(
    dialect: str, exchange: str, symbol: str, timeframe: str
) -> postgresql.Insert | sqlite.Insert:
    """The series' counter row, made at 0 (no write yet) if it is not there."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(CandleSeriesVersion).values(
        exchange=exchange, symbol=symbol, timeframe=timeframe, writes=0
    )


async def _upsert_postgresql(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    batch: CandleBatch,
    meanwhile: Callable[[], None] | None,
) -> UpsertCounts:
    first, last = _time_range(batch)
    # The first statement goes through SQLAlchemy so its transaction is open before the raw COPY.
    any_stored = await session.scalar(
        select(
            exists().where(
                series_filter(exchange, symbol, timeframe), Candle.ts.between(first, last)
            )
        )
    )
    driver = await _driver(session)
    if not any_stored:
        series = (exchange, symbol, timeframe)
        data = _pieces(_keyed(_series_key(series), batch), meanwhile)
        try:
            return await _copy_new(driver, series, data, [batch], filtered=not batch.prices_checked)
        except asyncpg.UniqueViolationError:
            pass  # stored by a concurrent writer since the check: merge below instead
    await session.execute(_PG_CREATE_STAGING)
    await session.execute(_PG_TRUNCATE_STAGING)
    status = await driver.copy_to_table(
        _STAGING_TABLE,
        source=_pieces(batch.copy_rows.encode(), meanwhile),
        columns=("ts", *VALUE_COLUMNS),
        where=None if batch.prices_checked else _PG_PRICES_CONSISTENT,
    )
    if _copied(status) != len(batch):
        raise PricesRefused(_first_missing([batch], await driver.fetch(_PG_STAGED_TS)))
    params = {
        "exchange": exchange,
        "symbol": symbol,
        "timeframe": timeframe,
        "first": first,
        "last": last,
    }
    written, existed = (await session.execute(_PG_UPSERT_FROM_STAGING, params)).one()
    inserted = len(batch) - existed
    updated = written - inserted
    return UpsertCounts(inserted, updated, existed - updated)


async def _driver(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside the session's open transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg.Connection
    if not driver.is_in_transaction():
        raise RuntimeError("candle COPY must run inside the session's transaction")
    return driver


async def _pieces(data: bytes, meanwhile: Callable[[], None] | None) -> AsyncIterator[bytes]:
    """``data`` in pieces of ``COPY_PIECE_BYTES`` (a COPY's data may be cut anywhere, even
    inside a row), ``meanwhile`` called after each piece but the last: the server stores a
    piece while the caller works."""
    size = COPY_PIECE_BYTES if meanwhile is not None else max(len(data), 1)
    for start in range(0, len(data), size):
        yield data[start : start + size]
        if meanwhile is not None and start + size < len(data):
            meanwhile()


def _time_range(batch: CandleBatch) -> tuple[datetime, datetime]:
    return ms_to_datetime(int(batch.ts_ms[0])), ms_to_datetime(int(batch.ts_ms[-1]))


def _copy_field(value: str) -> str:
    """``value`` as one field of COPY's text format (numbers and ISO times need no escaping)."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


_SQLITE_UPSERT = (
    "INSERT INTO ohlcv (exchange, symbol, timeframe, ts, open, high, low, close, volume) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET open = excluded.open, "
    "high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume"
)


async def _upsert_sqlite(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str, batch: CandleBatch
) -> UpsertCounts:
    if not batch.prices_checked:
        raise ValueError("SQLite stores candles whose prices were checked when read")
    # Compare and write in the stored text form (what the Money and UTCDateTime columns' own
    # bind processors make, as a test checks): decoding every stored value to Decimal first made
    # a re-import several times slower than the import itself.
    first, last = _time_range(batch)
    stamps, columns = batch.sqlite_datetimes(), batch.canonical_columns()
    raw_columns = [type_coerce(getattr(Candle, name), String) for name in ("ts", *VALUE_COLUMNS)]
    stored_rows = await session.execute(
        select(*raw_columns).where(
            series_filter(exchange, symbol, timeframe), Candle.ts >= first, Candle.ts <= last
        )
    )
    stored = {row[0]: tuple(row[1:]) for row in stored_rows}
    if stored:
        to_write, existed = [], 0
        for ts, *values in zip(stamps, *columns, strict=True):
            previous = stored.get(ts)
            existed += previous is not None
            if previous != tuple(values):
                to_write.append((exchange, symbol, timeframe, ts, *values))
    else:  # a new range: every row is written, built by zip alone
        key = (repeat(exchange), repeat(symbol), repeat(timeframe))
        to_write, existed = list(zip(*key, stamps, *columns, strict=False)), 0  # repeat: endless
    if to_write:
        connection = await session.connection()
        await connection.exec_driver_sql(_SQLITE_UPSERT, to_write)
    inserted = len(batch) - existed
    updated = len(to_write) - inserted
    return UpsertCounts(inserted, updated, existed - updated)
