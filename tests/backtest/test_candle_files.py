"""Sweeps' candles shared by a machine's worker processes through a file: loaded once, read back
bit for bit, never from another range or version, and the database again whenever the
directory or a file cannot be trusted."""

from __future__ import annotations

import asyncio
import fcntl
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from autogrid.backtest import candle_files
from autogrid.backtest.candle_files import file_name, load_shared
from autogrid.market_data.repository import RangeVersion
from autogrid.market_data.timeframes import datetime_to_ms
from autogrid.trading.candles import CandleArrays

START = datetime(2025, 5, 20, tzinfo=UTC)
END = START + timedelta(days=1)


def candles(count: int = 50, first: datetime = START) -> CandleArrays:
    ts = datetime_to_ms(first) + 60_000 * np.arange(count, dtype=np.int64)
    rng = np.random.default_rng(count)
    opens, highs, lows, closes = (100_000 + rng.standard_normal(count) * 50 for _ in range(4))
    volume = rng.random(count)
    if count > 2:  # bits a round trip through text or arithmetic could lose
        volume[1] = -0.0
        volume[2] = np.frombuffer(np.uint64(0x7FF8_0000_0000_BEEF).tobytes(), np.float64)[0]
    return CandleArrays(ts, opens, highs, lows, closes, volume)


def version_of(arrays: CandleArrays, writes: int = 1) -> RangeVersion:
    ends = (int(arrays.ts_ms[0]), int(arrays.ts_ms[-1]))
    first, last = (datetime.fromtimestamp(ms / 1000, UTC) for ms in ends)
    return RangeVersion(first, last, writes)


def name_of(arrays: CandleArrays, writes: int = 1) -> str:
    return file_name("binance", "BTC/USDT", "1m", START, END, version_of(arrays, writes))


class Loads:
    """A stand-in for the database load: counts its calls."""

    def __init__(self, arrays: CandleArrays) -> None:
        self.arrays = arrays
        self.calls = 0

    async def __call__(self) -> CandleArrays:
        self.calls += 1
        return self.arrays


def columns_of(arrays: CandleArrays) -> list[np.ndarray]:
    return [arrays.ts_ms, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume]


def bits(arrays: CandleArrays) -> list[bytes]:
    return [column.tobytes() for column in columns_of(arrays)]


async def test_the_first_process_loads_and_the_next_reads_its_file_bit_for_bit(
    tmp_path: Path,
) -> None:
    arrays = candles()
    first, second = Loads(arrays), Loads(arrays)

    loaded = await load_shared(tmp_path, name_of(arrays), version_of(arrays), first)
    read = await load_shared(tmp_path, name_of(arrays), version_of(arrays), second)

    assert (first.calls, second.calls) == (1, 0)
    assert bits(loaded) == bits(arrays)
    assert bits(read) == bits(arrays)
    assert all(column.flags.c_contiguous for column in columns_of(read))


class RefusalSpy:
    """``fcntl`` as the module uses it, telling when a lock was found held."""

    LOCK_EX, LOCK_NB, LOCK_UN = fcntl.LOCK_EX, fcntl.LOCK_NB, fcntl.LOCK_UN

    def __init__(self) -> None:
        self.refused = asyncio.Event()

    def flock(self, descriptor: int, operation: int) -> None:
        try:
            fcntl.flock(descriptor, operation)
        except BlockingIOError:
            self.refused.set()
            raise


async def test_processes_arriving_together_wait_for_the_one_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second waits on the lock while the first loads (each its own descriptor, as two
    processes), then reads the first's file: one load between them."""
    spy = RefusalSpy()
    monkeypatch.setattr(candle_files, "fcntl", spy)
    arrays = candles()
    release = asyncio.Event()
    calls = 0

    async def slow_load() -> CandleArrays:
        nonlocal calls
        calls += 1
        await release.wait()
        return arrays

    name, version = name_of(arrays), version_of(arrays)
    first = asyncio.create_task(load_shared(tmp_path, name, version, slow_load))
    while calls == 0:  # the first holds the lock and is loading
        await asyncio.sleep(0)
    second = asyncio.create_task(load_shared(tmp_path, name, version, slow_load))
    await spy.refused.wait()  # the second found the lock held: it waits, it does not load
    assert calls == 1
    release.set()

    results = await asyncio.gather(first, second)

    assert calls == 1
    assert [bits(result) for result in results] == [bits(arrays)] * 2


async def test_another_range_or_version_never_reads_the_file(tmp_path: Path) -> None:
    arrays = candles()
    await load_shared(tmp_path, name_of(arrays), version_of(arrays), Loads(arrays))
    grown = candles(51)  # a candle added at the end: another version
    names = {
        name_of(arrays, writes=2),  # the series written since: maybe a candle in the middle
        file_name("binance", "BTC/USDT", "5m", START, END, version_of(arrays)),
        file_name(
            "binance",
            "BTC/USDT",
            "1m",
            START,
            END + timedelta(minutes=1),
            version_of(arrays),
        ),
        name_of(grown),
    }
    assert name_of(arrays) not in names and len(names) == 4

    for name in names:
        load = Loads(grown)
        assert bits(await load_shared(tmp_path, name, version_of(grown), load)) == bits(grown)
        assert load.calls == 1


async def test_a_file_not_holding_its_version_is_ignored(tmp_path: Path) -> None:
    """Its first or last open time not the range's (a file put there by hand, say): loaded."""
    arrays, other = candles(), candles(50, START + timedelta(minutes=1))
    await load_shared(tmp_path, name_of(arrays), version_of(arrays), Loads(arrays))
    os.replace(tmp_path / name_of(arrays), tmp_path / name_of(other))
    load = Loads(other)

    assert bits(await load_shared(tmp_path, name_of(other), version_of(other), load)) == bits(other)
    assert load.calls == 1


async def test_a_cut_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    arrays = candles()
    await load_shared(tmp_path, name_of(arrays), version_of(arrays), Loads(arrays))
    path = tmp_path / name_of(arrays)
    path.write_bytes(path.read_bytes()[:100])
    load = Loads(arrays)

    assert bits(await load_shared(tmp_path, name_of(arrays), version_of(arrays), load)) == bits(
        arrays
    )
    assert load.calls == 1
    again = Loads(arrays)
    await load_shared(tmp_path, name_of(arrays), version_of(arrays), again)
    assert again.calls == 0  # written whole again by that load


async def test_an_unusable_directory_loads_from_the_database(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    arrays = candles()
    load = Loads(arrays)

    assert bits(await load_shared(blocked, name_of(arrays), version_of(arrays), load)) == bits(
        arrays
    )
    assert load.calls == 1


async def test_a_load_error_is_the_callers_and_is_not_retried(tmp_path: Path) -> None:
    """A database that refused the connection (an OSError too) is not taken for a file trouble."""
    calls = 0

    async def refused() -> CandleArrays:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("database down")

    arrays = candles()
    with pytest.raises(ConnectionRefusedError):
        await load_shared(tmp_path, name_of(arrays), version_of(arrays), refused)
    assert calls == 1
    load = Loads(arrays)  # and the lock was released
    await load_shared(tmp_path, name_of(arrays), version_of(arrays), load)
    assert load.calls == 1


async def test_ranges_of_fewer_than_two_candles_are_not_written(tmp_path: Path) -> None:
    one = candles(1)
    await load_shared(tmp_path, name_of(one), version_of(one), Loads(one))
    assert not list(tmp_path.glob("*.npy"))


async def test_only_the_newest_files_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(candle_files, "KEEP", 2)
    names = []
    for writes in range(4):
        arrays = candles()
        names.append(name_of(arrays, writes))
        await load_shared(tmp_path, names[-1], version_of(arrays, writes), Loads(arrays))
        os.utime(tmp_path / names[-1], (writes, writes))  # written in this order

    kept = sorted(path.name for path in tmp_path.glob("*.npy"))
    assert kept == sorted(names[2:])
    assert sorted(path.name for path in tmp_path.glob("*.lock")) == sorted(
        f"{name}.lock" for name in names[2:]
    )


async def test_files_past_the_byte_bound_are_removed_but_the_newest_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = candles()
    names = [name_of(arrays, writes) for writes in range(3)]
    for at, name in enumerate(names[:2]):
        await load_shared(tmp_path, name, version_of(arrays, at), Loads(arrays))
        os.utime(tmp_path / name, (at, at))
    size = (tmp_path / names[0]).stat().st_size
    monkeypatch.setattr(candle_files, "KEEP_BYTES", size + size // 2)  # room for one and a half

    await load_shared(tmp_path, names[2], version_of(arrays, 2), Loads(arrays))
    assert [path.name for path in tmp_path.glob("*.npy")] == [names[2]]

    monkeypatch.setattr(candle_files, "KEEP_BYTES", 1)  # the newest stays, whatever its size
    await load_shared(tmp_path, names[0], version_of(arrays, 0), Loads(arrays))
    assert [path.name for path in tmp_path.glob("*.npy")] == [names[0]]


async def test_a_file_read_is_kept_before_files_written_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept by use, not by age: the range a user sweeps again and again outlives the others."""
    monkeypatch.setattr(candle_files, "KEEP", 2)
    arrays = candles()
    names = [name_of(arrays, writes) for writes in range(3)]
    for writes, name in enumerate(names[:2]):
        await load_shared(tmp_path, name, version_of(arrays, writes), Loads(arrays))
        os.utime(tmp_path / name, (writes, writes))  # written long ago, the first first
    read = Loads(arrays)
    await load_shared(tmp_path, names[0], version_of(arrays, 0), read)  # read again: used now

    await load_shared(tmp_path, names[2], version_of(arrays, 2), Loads(arrays))

    assert read.calls == 0
    assert sorted(path.name for path in tmp_path.glob("*.npy")) == sorted([names[0], names[2]])
