"""Sweeps' candles loaded once per machine: its worker processes share them by a file.

Each worker process keeps the candles it loaded (``candle_cache``), but a sweep's first chunks
reach every process of a machine at once, so each loaded the same range from the database at the
same moment: the server sent the same rows once per process, each process decoded them, and on a
machine with as many processes as cores they waited on each other for it. Now the first process
to reach a range loads it and writes its columns to a file in ``var_dir``; the others wait on
that file's lock meanwhile, then read the file (milliseconds, no server work). The file outlives
its sweep: the next sweep over the same range (a user refining a search) reads it too.

Never stale: a file's name holds the range and its version (``RangeVersion``: the series' write
counter, which every write of its candles but new ones after its last bumps, and the range's
first and last open time), read
by every chunk when it claims its runs and before any candle, so once candles of the series were
written, or removed or added at either end of the range, no process reads an older file. A file
is written under a temporary name and renamed, so a reader sees a whole file or none; its shape
and end times are checked when read. Bounded: the ``KEEP`` most recently used files stay, within
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
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from autogrid.market_data.repository import RangeVersion
from autogrid.market_data.timeframes import datetime_to_ms
from autogrid.trading.candles import CandleArrays

logger = logging.getLogger(__name__)

KEEP = 8
KEEP_BYTES = 512 * 1024 * 1024  # a year of 1m candles is about 25 MB a file
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
    directory: Path, name: str, version: RangeVersion, load: Callable[[], Awaitable[CandleArrays]]
) -> CandleArrays:
    """The candles of file ``name`` in ``directory`` if another process wrote it; else loaded
    by ``load`` (from the database) and written there for the others (see the module). Only
    the file's own troubles are caught: ``load``'s errors are the caller's, as without files."""
    try:
        lock = _open_lock(directory, name)
    except OSError:
        logger.warning("sweep candle files in %s unusable: loading alone", directory, exc_info=True)
        return await load()
    try:  # closing the descriptor releases the lock
        held = await _lock(lock, directory / f"{name}.lock")
        if held:
            found = _read(directory / name, version)
            if found is not None:
                return found
        arrays = await load()
        if held and len(arrays) >= 2:
            _write(directory, name, arrays)
        return arrays
    finally:
        os.close(lock)


def _open_lock(directory: Path, name: str) -> int:
    """The descriptor of the file's lock file (made with the directory if need be). File work
    here is a few milliseconds in a worker process running one task: done in its loop."""
    directory.mkdir(parents=True, exist_ok=True)
    return os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)


async def _lock(descriptor: int, path: Path) -> bool:
    """Takes an exclusive ``flock`` (True), or gives up after ``LOCK_WAIT_SECONDS`` of another
    process holding it (False). Polled: a thread blocked in ``flock`` could not be called off."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                logger.warning("waited %.0f s for %s: loading alone", LOCK_WAIT_SECONDS, path)
                return False
            await asyncio.sleep(LOCK_POLL_SECONDS)
        except OSError:
            logger.warning("cannot lock %s: loading alone", path, exc_info=True)
            return False


def _read(path: Path, version: RangeVersion) -> CandleArrays | None:
    """The file's candles, or None if there is no such file or it does not hold the range's
    version (its first and last open time)."""
    try:
        table = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # unreadable, or not a whole .npy file
        logger.warning("sweep candle file %s unreadable: ignored", path, exc_info=True)
        return None
    with contextlib.suppress(OSError):  # used: the last to be pruned (by modification time)
        os.utime(path)
    first, last = version[0], version[1]
    if (
        table.dtype != np.int64
        or table.ndim != 2
        or table.shape[0] != 6
        or table.shape[1] < 2
        or first is None
        or last is None
        or int(table[0, 0]) != datetime_to_ms(first)
        or int(table[0, -1]) != datetime_to_ms(last)
    ):
        logger.warning("sweep candle file %s does not hold its range: ignored", path)
        return None
    # Each column its own contiguous copy; the prices' bits as they were written.
    return CandleArrays(
        table[0].copy(), *(table[row].view(np.float64).copy() for row in range(1, 6))
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
