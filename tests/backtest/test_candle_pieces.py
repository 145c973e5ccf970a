"""A long range's candles loaded in pieces by the machine's worker processes between them: each
piece from the database once, every process with the whole range bit for bit, and the database
again for a piece whose file cannot be trusted or whose loader failed."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from autogrid.backtest import candle_files
from autogrid.backtest.candle_files import Piece, file_name, load_pieces, pieces
from autogrid.market_data.timeframes import datetime_to_ms
from autogrid.trading.candles import CandleArrays
from tests.backtest.test_candle_files import END, START, bits, candles, version_of

MINUTE = timedelta(minutes=1)
DAY = candles(1440)  # one per minute of [START, END)
VERSION = version_of(DAY)


def day_pieces() -> list[Piece]:
    return pieces("binance", "BTC/USDT", "1m", START, END, VERSION, MINUTE)


def within(arrays: CandleArrays, piece: Piece) -> CandleArrays:
    ts = arrays.ts_ms
    keep = (ts >= datetime_to_ms(piece.start)) & (ts < datetime_to_ms(piece.end))
    prices = (arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
    return CandleArrays(ts[keep], *(column[keep] for column in prices))


class PieceLoads:
    """One process's database loads: which pieces it loaded, each held until ``gate`` opens."""

    def __init__(self, gate: asyncio.Event, source: CandleArrays = DAY) -> None:
        self.gate, self.source = gate, source
        self.loaded: list[Piece] = []
        self.fail: Piece | None = None
        self.stuck: Piece | None = None  # its load never ends (unless cancelled)

    async def __call__(self, piece: Piece, lane: int) -> CandleArrays:
        self.loaded.append(piece)
        await self.gate.wait()
        if piece == self.fail:
            raise ConnectionError("the database went away")
        if piece == self.stuck:
            await asyncio.Event().wait()
        return within(self.source, piece)


@pytest.fixture(autouse=True)
def short_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(candle_files, "PIECE_MIN_CANDLES", 1000)  # a day of 1m is long here


def test_a_long_range_is_cut_into_named_pieces_and_a_short_one_is_one() -> None:
    cut = day_pieces()

    assert len(cut) == candle_files.PIECES
    assert (cut[0].start, cut[-1].end) == (START, END)
    assert all(left.end == right.start for left, right in pairwise(cut))
    assert len({piece.name for piece in cut}) == len(cut)
    short = pieces("binance", "BTC/USDT", "1m", START, START + 999 * MINUTE, VERSION, MINUTE)
    whole = file_name("binance", "BTC/USDT", "1m", START, START + 999 * MINUTE, VERSION)
    assert [(piece.name, piece.start) for piece in short] == [(whole, START)]


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0)


async def arriving_together(
    tmp_path: Path, first_loads: PieceLoads, second_loads: PieceLoads, lanes: int
) -> tuple[asyncio.Task[CandleArrays], asyncio.Task[CandleArrays]]:
    """Two processes (each its own lock descriptors) loading a day: the second starts once the
    first's lanes are loading, and starts loading itself before either load ends (``gate``)."""
    cut = day_pieces()
    first = asyncio.create_task(load_pieces(tmp_path, cut, VERSION, first_loads, lanes))
    await until(lambda: len(first_loads.loaded) == lanes)
    second = asyncio.create_task(load_pieces(tmp_path, cut, VERSION, second_loads, lanes))
    await until(lambda: len(second_loads.loaded) == lanes)
    first_loads.gate.set()
    return first, second


async def test_processes_arriving_together_load_the_pieces_between_them(tmp_path: Path) -> None:
    """Each its own lock descriptors, as two processes; each with two lanes. The second finds
    the first's pieces held and takes the next: every piece is loaded once, by one of them."""
    gate = asyncio.Event()
    first_loads, second_loads = PieceLoads(gate), PieceLoads(gate)
    cut = day_pieces()
    first, second = await arriving_together(tmp_path, first_loads, second_loads, 2)

    results = await asyncio.gather(first, second)

    assert first_loads.loaded[:2] == cut[:2] and second_loads.loaded[:2] == cut[2:4]
    assert sorted(first_loads.loaded + second_loads.loaded, key=lambda p: p.start) == cut
    assert [bits(result) for result in results] == [bits(DAY)] * 2
    third = PieceLoads(gate)
    assert bits(await load_pieces(tmp_path, cut, VERSION, third, 2)) == bits(DAY)
    assert third.loaded == []  # every piece read from its file


async def test_a_process_alone_loads_every_piece(tmp_path: Path) -> None:
    gate = asyncio.Event()
    gate.set()
    alone = PieceLoads(gate)

    assert bits(await load_pieces(tmp_path, day_pieces(), VERSION, alone, 2)) == bits(DAY)
    assert sorted(alone.loaded, key=lambda piece: piece.start) == day_pieces()


async def test_a_piece_whose_loader_failed_is_loaded_by_the_process_waiting_for_it(
    tmp_path: Path,
) -> None:
    """The first process's load of a piece fails (its caller gets the error); the second,
    waiting for that piece's file, finds none once the lock is free and loads it itself."""
    gate = asyncio.Event()
    first_loads, second_loads = PieceLoads(gate), PieceLoads(gate)
    cut = day_pieces()
    first_loads.fail = cut[0]
    first, second = await arriving_together(tmp_path, first_loads, second_loads, 1)

    with pytest.raises(ConnectionError):
        await first
    assert bits(await second) == bits(DAY)
    assert cut[0] in second_loads.loaded


async def test_a_failed_lane_stops_its_process_other_lanes_and_their_locks(
    tmp_path: Path,
) -> None:
    """One lane's load fails while the other's goes on: that one is called off and its piece's
    lock let go at once, so the process waiting for the piece does not wait on it."""
    gate = asyncio.Event()
    first_loads, second_loads = PieceLoads(gate), PieceLoads(gate)
    cut = day_pieces()
    first_loads.fail, first_loads.stuck = cut[0], cut[1]
    first, second = await arriving_together(tmp_path, first_loads, second_loads, 2)

    with pytest.raises(ConnectionError):
        await first
    assert first_loads.loaded[:2] == cut[:2]
    lock = os.open(tmp_path / f"{cut[1].name}.lock", os.O_RDWR)
    try:  # free, or held by the second process now: never by the first's stuck lane
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        assert cut[1] in second_loads.loaded
    finally:
        os.close(lock)
    assert bits(await second) == bits(DAY)
    assert {cut[0], cut[1]} <= set(second_loads.loaded)


async def test_a_piece_file_holding_other_candles_is_loaded_again(tmp_path: Path) -> None:
    """A piece's file must hold candles of that piece (and the range's first or last, if in
    it): another piece's file under its name is not read."""
    gate = asyncio.Event()
    gate.set()
    cut = day_pieces()
    await load_pieces(tmp_path, cut, VERSION, PieceLoads(gate), 1)
    os.replace(tmp_path / cut[1].name, tmp_path / cut[2].name)  # piece 1's candles as piece 2's
    (tmp_path / cut[0].name).unlink()
    os.replace(tmp_path / cut[-2].name, tmp_path / cut[-1].name)  # without the range's last
    again = PieceLoads(gate)

    assert bits(await load_pieces(tmp_path, cut, VERSION, again, 1)) == bits(DAY)
    assert again.loaded == [cut[0], cut[1], cut[2], cut[-2], cut[-1]]


@pytest.mark.parametrize("end", ["first", "last"])
async def test_a_piece_file_without_the_ranges_first_or_last_candle_is_loaded_again(
    tmp_path: Path, end: str
) -> None:
    """The piece holding the range's first (last) candle must start (end) with it: a file of
    that piece cut short at that end is not read."""
    gate = asyncio.Event()
    gate.set()
    cut = day_pieces()
    await load_pieces(tmp_path, cut, VERSION, PieceLoads(gate), 1)
    piece = cut[0] if end == "first" else cut[-1]
    held = within(DAY, piece)
    kept = slice(1, None) if end == "first" else slice(None, -1)
    prices = (held.open, held.high, held.low, held.close, held.volume)
    short = CandleArrays(held.ts_ms[kept], *(column[kept] for column in prices))
    candle_files._write_table(tmp_path, piece.name, short)
    again = PieceLoads(gate)

    assert bits(await load_pieces(tmp_path, cut, VERSION, again, 1)) == bits(DAY)
    assert again.loaded == [piece]


async def test_pieces_of_another_version_are_never_read(tmp_path: Path) -> None:
    gate = asyncio.Event()
    gate.set()
    await load_pieces(tmp_path, day_pieces(), VERSION, PieceLoads(gate), 2)
    changed = CandleArrays(
        DAY.ts_ms, DAY.open * 2, DAY.high * 2, DAY.low * 2, DAY.close, DAY.volume
    )
    newer = version_of(changed, writes=2)
    cut = pieces("binance", "BTC/USDT", "1m", START, END, newer, MINUTE)
    loads = PieceLoads(gate, changed)

    assert bits(await load_pieces(tmp_path, cut, newer, loads, 2)) == bits(changed)
    assert len(loads.loaded) == len(cut)


async def test_a_range_with_empty_pieces_loads_whole(tmp_path: Path) -> None:
    """Candles in the first half only: the empty pieces are loaded (nothing) by each process
    and written by none; the range is still whole."""
    half = candles(720)
    gate = asyncio.Event()
    gate.set()
    version = version_of(half)
    cut = pieces("binance", "BTC/USDT", "1m", START, END, version, MINUTE)
    first, second = PieceLoads(gate, half), PieceLoads(gate, half)

    assert bits(await load_pieces(tmp_path, cut, version, first, 2)) == bits(half)
    assert bits(await load_pieces(tmp_path, cut, version, second, 2)) == bits(half)
    assert second.loaded == cut[len(cut) // 2 :]
    assert not np.any([(tmp_path / piece.name).exists() for piece in second.loaded])
