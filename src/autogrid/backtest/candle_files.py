"""Sweeps' candles loaded once per machine: its worker processes share them by a file.

Each worker process keeps the candles it loaded (``candle_cache``), but a sweep's first chunks
reach every process of a machine at once, so each loaded the same range from the database at the
same moment: the server sent the same rows once per process, each process decoded them, and on a
machine with as many processes as cores they waited on each other for it. Now the first process
to reach a range loads it and writes its columns to a file in ``var_dir``; the others wait on
that file's lock meanwhile, then read the file (milliseconds, no server work). A long range is
loaded in ``PIECES`` pieces instead, a file each (``load_pieces``): every process takes the next
piece no other holds, two at once (two connections), and reads the others' files once written,
so the processes arriving together share the load instead of waiting for one of them (a year of
1m candles: 1.84 s of waiting and loading summed over two processes, 1.50 s in pieces; a process
alone, 0.97 s and 0.85 s). The files outlive their sweep: the next sweep over the same range (a
user refining a search) reads them too.

Never stale: a file's name holds the range (or piece) and the range's version (``RangeVersion``:
the series' write counter, which every write of its candles but new ones after its last bumps,
and the range's first and last open time), read by every chunk when it claims its runs and
before any candle, so once candles of the series were written, or removed or added at either
end of the range, no process reads an older file. A file is written under a temporary name and
renamed, so a reader sees a whole file or none; its shape and end times are checked when read
(a piece's: inside the piece, and starting or ending with the range's first or last candle if
that is in it). Bounded: the ``KEEP`` most recently used files stay, within
``KEEP_BYTES``; older ones are removed when one is written (a process that still wanted one loads
it again, and writes it again).

Only an optimisation: if the directory cannot be used (full disk, permissions), or the lock is
held longer than ``LOCK_WAIT_SECONDS`` (a stuck load elsewhere), the range is loaded from the
database as before. Meant for a directory on the machine's own disk: processes on other machines
sharing it would still be correct (the names and the rename make that), but would not be spared
a load unless their file locks reach each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import pairwise
from pathlib import Path

import numpy as np

from autogrid.market_data.repository import RangeVersion, split_range
from autogrid.market_data.timeframes import datetime_to_ms
from autogrid.trading.candles import CandleArrays

logger = logging.getLogger(__name__)

KEEP = 64  # files: a long range is several (``PIECES``)
KEEP_BYTES = 512 * 1024 * 1024  # a year of 1m candles is about 25 MB, in its pieces
PIECES = 8  # of a range of at least ``PIECE_MIN_CANDLES``; one file holds a shorter one
PIECE_MIN_CANDLES = 100_000
LOCK_WAIT_SECONDS = 120.0
LOCK_POLL_SECONDS = 0.005
SUFFIX = ".npy"


def file_name(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    version: RangeVersion,
) -> str:
    """The range's file, by what it holds: its range and the candles' version."""
    parts = (exchange, symbol, timeframe, start, end, *version)
    text = "\n".join(
        part.isoformat() if isinstance(part, datetime) else str(part) for part in parts
    )
    return f"{hashlib.sha256(text.encode()).hexdigest()[:40]}{SUFFIX}"


async def load_shared(
    directory: Path,
    name: str,
    version: RangeVersion,
    load: Callable[[], Awaitable[CandleArrays]],
    *,
    within: tuple[datetime, datetime] | None = None,
) -> CandleArrays:
    """The candles of file ``name`` in ``directory`` if another process wrote it; else loaded
    by ``load`` (from the database) and written there for the others (see the module). Only
    the file's own troubles are caught: ``load``'s errors are the caller's, as without files.
    ``within``: the bounds of the piece the file holds (``load_pieces``), None for a range."""
    arrays = await _shared(directory, name, version, load, within, wait=True)
    assert arrays is not None  # waiting for the lock, it never leaves the file to another
    return arrays


async def _shared(
    directory: Path,
    name: str,
    version: RangeVersion,
    load: Callable[[], Awaitable[CandleArrays]],
    within: tuple[datetime, datetime] | None,
    *,
    wait: bool,
) -> CandleArrays | None:
    """``load_shared``; or, not to ``wait`` (``load_pieces``' lanes), None at once while
    another process holds the file's lock (loading it)."""
    try:
        lock = _open_lock(directory, name)
    except OSError:
        logger.warning("sweep candle files in %s unusable: loading alone", directory, exc_info=True)
        return await load()
    try:  # closing the descriptor releases the lock
        held = await _lock(lock, directory / f"{name}.lock", wait=wait)
        if held is None:
            return None
        if held:
            found = _read(directory / name, version, within)
            if found is not None:
                return found
        arrays = await load()
        if held and len(arrays) >= 2:
            _write(directory, name, arrays)
        return arrays
    finally:
        os.close(lock)


@dataclass(frozen=True, slots=True)
class Piece:
    """A part of a range (``start <= ts < end``) and its file's name."""

    name: str
    start: datetime
    end: datetime


def pieces(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    version: RangeVersion,
    step: timedelta,
) -> list[Piece]:
    """The range's pieces, in order: ``PIECES`` of a long range (each named by its bounds and
    the whole range's version), the range itself otherwise."""
    count = PIECES if (end - start) // step >= PIECE_MIN_CANDLES else 1
    return [
        Piece(file_name(exchange, symbol, timeframe, low, high, version), low, high)
        for low, high in pairwise(split_range(start, end, count))
    ]


async def load_pieces(
    directory: Path,
    parts: Sequence[Piece],
    version: RangeVersion,
    load: Callable[[Piece, int], Awaitable[CandleArrays]],
    lanes: int,
) -> CandleArrays:
    """The range of ``parts`` (``pieces``), its pieces shared by the machine's processes: each
    of ``lanes`` at once (``load(piece, lane)``: a lane's loads are one after the other, on a
    connection of its own) takes the next piece no process holds, reads its file or loads and
    writes it; then the pieces others held are read from their files once written (or loaded
    here, as ``load_shared``). Processes arriving together so load a range between them, in
    about the time one takes for its share."""
    taken: dict[int, CandleArrays] = {}
    queue: Iterator[int] = iter(range(len(parts)))  # shared by the lanes

    async def lane(number: int) -> None:
        for index in queue:
            piece = parts[index]
            within = (piece.start, piece.end)
            found = await _shared(
                directory, piece.name, version, partial(load, piece, number), within, wait=False
            )
            if found is not None:
                taken[index] = found

    lanes_running = [asyncio.ensure_future(lane(number)) for number in range(max(1, lanes))]
    try:
        await asyncio.gather(*lanes_running)
    except BaseException:  # one lane failed (or all were cancelled): none goes on holding a lock
        for running in lanes_running:
            running.cancel()
        await asyncio.gather(*lanes_running, return_exceptions=True)
        raise
    for index, piece in enumerate(parts):
        if index not in taken:  # another process's: wait for its file
            taken[index] = await load_shared(
                directory,
                piece.name,
                version,
                partial(load, piece, 0),
                within=(piece.start, piece.end),
            )
    loaded = [taken[index] for index in range(len(parts))]
    return CandleArrays(
        *(np.concatenate([getattr(part, name) for part in loaded]) for name in _COLUMNS)
    )


_COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")


def _open_lock(directory: Path, name: str) -> int:
    """The descriptor of the file's lock file (made with the directory if need be). File work
    here is a few milliseconds in a worker process running one task: done in its loop."""
    directory.mkdir(parents=True, exist_ok=True)
    return os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)


async def _lock(descriptor: int, path: Path, *, wait: bool) -> bool | None:
    """Takes an exclusive ``flock`` (True). Another process holding it: None at once if not to
    ``wait``, else False after ``LOCK_WAIT_SECONDS`` of it; False too if it cannot be taken.
    Polled: a thread blocked in ``flock`` could not be called off."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not wait:
                return None
            if time.monotonic() >= deadline:
                logger.warning("waited %.0f s for %s: loading alone", LOCK_WAIT_SECONDS, path)
                return False
            await asyncio.sleep(LOCK_POLL_SECONDS)
        except OSError:
            logger.warning("cannot lock %s: loading alone", path, exc_info=True)
            return False


def _read(
    path: Path, version: RangeVersion, within: tuple[datetime, datetime] | None = None
) -> CandleArrays | None:
    """The file's candles, or None if there is no such file or it does not hold the range's
    version: its first and last open time, or for a piece (``within``: its bounds) candles
    inside the piece, starting (ending) with the range's first (last) if that is in it."""
    try:
        table = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # unreadable, or not a whole .npy file
        logger.warning("sweep candle file %s unreadable: ignored", path, exc_info=True)
        return None
    with contextlib.suppress(OSError):  # used: the last to be pruned (by modification time)
        os.utime(path)
    if (
        table.dtype != np.int64
        or table.ndim != 2
        or table.shape[0] != 6
        or table.shape[1] < 2
        or not _holds(int(table[0, 0]), int(table[0, -1]), version, within)
    ):
        logger.warning("sweep candle file %s does not hold its range: ignored", path)
        return None
    # Each column its own contiguous copy; the prices' bits as they were written.
    return CandleArrays(
        table[0].copy(), *(table[row].view(np.float64).copy() for row in range(1, 6))
    )


def _holds(
    first_ms: int, last_ms: int, version: RangeVersion, within: tuple[datetime, datetime] | None
) -> bool:
    first, last = version[0], version[1]
    if first is None or last is None:
        return False
    range_first, range_last = datetime_to_ms(first), datetime_to_ms(last)
    if within is None:
        return (first_ms, last_ms) == (range_first, range_last)
    low, high = datetime_to_ms(within[0]), datetime_to_ms(within[1])
    return (
        low <= first_ms <= last_ms < high
        and (first_ms == range_first or not low <= range_first < high)
        and (last_ms == range_last or not low <= range_last < high)
    )


def _write(directory: Path, name: str, arrays: CandleArrays) -> None:
    """The columns as one int64 table (the prices' float64 bits, every bit kept), written under
    a temporary name and renamed; then the oldest files beyond ``KEEP`` removed. A failure is
    logged: the others load for themselves then."""
    try:
        _write_table(directory, name, arrays)
        _prune(directory)
    except OSError:
        logger.warning("sweep candle file %s not written", directory / name, exc_info=True)


def _write_table(directory: Path, name: str, arrays: CandleArrays) -> None:
    columns = (arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
    table = np.empty((6, len(arrays)), dtype=np.int64)
    table[0] = arrays.ts_ms
    for row, column in enumerate(columns, start=1):
        table[row] = np.ascontiguousarray(column, dtype=np.float64).view(np.int64)
    temporary = directory / f"{name}.{os.getpid()}.tmp"
    try:
        with temporary.open("wb") as target:
            np.save(target, table, allow_pickle=False)
        os.replace(temporary, directory / name)
    finally:
        temporary.unlink(missing_ok=True)


def _prune(directory: Path) -> None:
    """Remove the files (and their locks) beyond the ``KEEP`` last used or past ``KEEP_BYTES`` in
    all (the newest always stays), and temporary files an hour old (a writer that died)."""
    found: list[tuple[float, int, Path]] = []
    for path in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another process pruned it meanwhile
            if path.suffix == SUFFIX:
                stat = path.stat()
                found.append((stat.st_mtime, stat.st_size, path))
            elif path.suffix == ".tmp" and path.stat().st_mtime < time.time() - 3600:
                path.unlink(missing_ok=True)
    found.sort(reverse=True)
    total = 0
    for kept, (_, size, path) in enumerate(found):
        total += size
        if kept >= KEEP or (kept > 0 and total > KEEP_BYTES):
            path.unlink(missing_ok=True)
            path.with_name(f"{path.name}.lock").unlink(missing_ok=True)
