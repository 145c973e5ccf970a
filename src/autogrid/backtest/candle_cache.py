"""Sweeps' candles, loaded once per worker process and shared by its runs there, sweep after sweep.

Loading a year of 1-minute candles from the database takes seconds, running a strategy over
them a fraction of one: without this, a sweep spent nearly all its time reloading the same rows
for every run. Each worker process keeps the last few candle ranges it loaded for sweeps, with
their shared indicator series (``SeriesMemo``), and a sweep's run over the same range reuses
them, whichever sweep loaded them: a user's next sweep over the same data (the usual way to
search) reads no candles at all. The processes of one machine load a range from the database once
between them: the first writes it to a file the others read, or each loads some pieces of a long
range and reads the others' (``candle_files``, same freshness).

Never stale:
* before each reuse, the range's version (``range_version``: the series' write counter, bumped
  in the same transaction by every write of its candles but new ones after its last, and the
  first and last open time in the range; three index lookups) is read, before any candle, and
  compared with the cached one: any write since, anywhere in the range, reloads; the market's
  new candles, stored as they close, reload only the ranges they fall in (their last open time
  changes). A sweep's chunk reads it once, with its claim;
* a single backtest (no sweep) is never served from here.
Shared by the threads of a threads pool (the embedded worker's two): the table is changed under
a lock, never held across an await; two threads missing the same range at once load it once
between them through ``candle_files``' lock, as two processes do.
Bounded: ``capacity`` ranges (least recently used dropped), each with at most
``shared_series.DEFAULT_CAPACITY`` indicator series: for a year of 1m candles about 25 MB of
candles and 70 MB of series a range, kept by an idle worker until a later sweep replaces them.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest import candle_files
from autogrid.backtest.shared_series import SeriesMemo
from autogrid.market_data import repository as candles_repository
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.trading.candles import CandleArrays

DEFAULT_CAPACITY = 2  # a held-out sweep reads two ranges (in and out of sample)


@dataclass(frozen=True, slots=True)
class RangeKey:
    exchange: str
    symbol: str
    timeframe: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Loaded:
    candles: CandleArrays
    shared: SeriesMemo | None  # None for a run outside a sweep
    reused: bool  # served from the cache, not read from the database


RangeVersion = candles_repository.RangeVersion  # the series' writes, the range's end times


@dataclass(slots=True)
class _Entry:
    version: RangeVersion
    shared: SeriesMemo


class CandleCache:
    """Per worker process (see ``WORKER_CANDLES``); tests make their own."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[RangeKey, _Entry] = OrderedDict()
        self._lock = threading.Lock()  # the table's (see the module)
        self.loads = 0  # loads of full ranges, from the database or a shared file (tests, logs)

    async def load(
        self,
        session: AsyncSession,
        sweep_id: uuid.UUID | None,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        version: RangeVersion | None = None,
        shared_dir: Path | None = None,
    ) -> Loaded:
        """``version``: the range's, if the caller read it already (a sweep's chunk reads it in
        its claim's transaction), always before the candles; read here otherwise. ``sweep_id``:
        None for a single backtest (read from the database). ``shared_dir``: where the machine's
        worker processes share candles (``candle_files``): one of them loads them from the
        database, the others read its file."""
        if sweep_id is None:
            with self._lock:
                self.loads += 1
            arrays = await candles_repository.load_arrays(
                session, exchange, symbol, timeframe, start, end
            )
            return Loaded(arrays, None, reused=False)
        key = RangeKey(exchange, symbol, timeframe, start, end)
        if version is None:
            version = await candles_repository.range_version(
                session, exchange, symbol, timeframe, start, end
            )
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                self._entries.move_to_end(key)
                return Loaded(entry.shared.candles, entry.shared, reused=True)
            self.loads += 1

        async def from_database() -> CandleArrays:
            # In parts at once: the other processes of the machine wait for this load.
            return await candles_repository.load_arrays_in_parts(
                session, exchange, symbol, timeframe, start, end
            )

        async def piece_from_database(piece: candle_files.Piece, lane: int) -> CandleArrays:
            load = (
                candles_repository.load_arrays
                if lane == 0
                else candles_repository.load_arrays_apart
            )
            return await load(session, exchange, symbol, timeframe, piece.start, piece.end)

        if shared_dir is None:
            arrays = await from_database()
        else:
            step = timedelta(milliseconds=parse_timeframe(timeframe).ms)
            parts = candle_files.pieces(exchange, symbol, timeframe, start, end, version, step)
            if len(parts) == 1:
                arrays = await candle_files.load_shared(
                    shared_dir, parts[0].name, version, from_database
                )
            else:  # the machine's processes load its pieces between them, two at once each
                lanes = 1 + min(1, candles_repository.spare_connections(session))
                arrays = await candle_files.load_pieces(
                    shared_dir, parts, version, piece_from_database, lanes
                )
        for column in (arrays.ts_ms, arrays.open, arrays.high, arrays.low, arrays.close):
            column.flags.writeable = False  # shared by runs: none may change it for the others
        arrays.volume.flags.writeable = False
        entry = _Entry(version, SeriesMemo(arrays))
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return Loaded(arrays, entry.shared, reused=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# One per worker process: a Celery prefork child runs one task at a time (a threads pool one per
# thread, sharing it), and keeps this between tasks, which is the point.
WORKER_CANDLES = CandleCache()
