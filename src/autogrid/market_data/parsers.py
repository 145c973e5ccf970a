"""Read candle files, streaming and strictly checked: CSV and freqtrade JSON, plain or gzipped.

* CSV: header ``timestamp,open,high,low,close,volume``; ``timestamp`` is the open time in integer
  milliseconds UTC. Values become ``Decimal`` straight from their text, so nothing passes through
  a binary float.
* freqtrade JSON: one array ``[[ts_ms, open, high, low, close, volume], ...]``, decoded row by row
  with ``parse_float=Decimal`` (bounded memory, unlike one ``json.load``). freqtrade writes
  mark-price candles with ``null`` volume; that is read as volume 0.
* gzip is recognised by its magic bytes, the format by the first non-blank character (``[`` or
  ``{`` is JSON), so a misnamed file is still read correctly.

The first bad row stops the read with a ``CandleFileError`` naming the CSV line (1 = header) or
the JSON array index (0-based) and what is wrong; gaps are only counted (see ``series``).
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from decimal import Context, Decimal, InvalidOperation
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import IO, Any

from autogrid.core.sqltypes import MONEY_PRECISION, MONEY_SCALE
from autogrid.exchanges.types import CandleData
from autogrid.market_data.candle_batch import (
    MAX_INTEGER_DIGITS,
    MIN_PLAUSIBLE_MS,
    CandleBatch,
    parse_plain_csv,
)
from autogrid.market_data.series import DEFAULT_GAP_EXAMPLES, GapReport, SeriesChecker
from autogrid.market_data.timeframes import Timeframe, format_ms, ms_to_datetime

CSV_HEADER = ("timestamp", "open", "high", "low", "close", "volume")
VALUE_NAMES = CSV_HEADER[1:]
GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK_CHARS = 1 << 20
ZERO = Decimal(0)
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_WIDE_CONTEXT = Context(prec=MONEY_PRECISION + 2)
_ParsedRow = tuple[int, tuple[Decimal, ...]]  # open time in ms, the five values


class CandleFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


class CandleFileError(ValueError):
    """A candle file that cannot be imported; ``position`` is the CSV line or JSON array index."""

    def __init__(self, source: str, position_kind: str, position: int | None, problem: str):
        where = f"{position_kind} {position}: " if position is not None else ""
        super().__init__(f"{source}: {where}{problem}")
        self.source = source
        self.position_kind = position_kind
        self.position = position
        self.problem = problem


class _RowProblem(Exception):
    """Raised inside row checks; the reader adds the file name and, unless given, the position."""

    def __init__(
        self, problem: str, position: int | None = None, *, whole_file: bool = False
    ) -> None:
        super().__init__(problem)
        self.position = position
        self.whole_file = whole_file  # a problem of the file's structure, not of one row


def open_text(path: Path) -> IO[str]:
    """Open a candle file as text, decompressing gzip when the magic bytes say so."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    # utf-8-sig drops a byte-order mark that spreadsheet programs like to add. Closing the text
    # stream (the caller's job) closes the file under it.
    if compressed:
        return io.TextIOWrapper(gzip.GzipFile(path, "rb"), encoding="utf-8-sig", newline="")
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig", newline="")


def detect_format(path: Path) -> CandleFormat:
    with open_text(path) as stream:
        head = stream.read(4096).lstrip()
    # "{" too: a JSON object is then refused as JSON, which says more than a bad CSV header.
    return CandleFormat.JSON if head.startswith(("[", "{")) else CandleFormat.CSV


class CandleReader:
    """Iterate a file's candles in order, checking every row; then read the summary fields."""

    def __init__(
        self, path: Path, timeframe: Timeframe, *, gap_examples: int = DEFAULT_GAP_EXAMPLES
    ) -> None:
        self.path = path
        self.timeframe = timeframe
        self.series = SeriesChecker(timeframe, gap_examples)
        self.rows_read = 0
        self.format: CandleFormat | None = None
        self._position: int | None = None  # the line or index being read, for errors

    @property
    def first_ms(self) -> int | None:
        return self.series.first_ms

    @property
    def last_ms(self) -> int | None:
        return self.series.last_ms

    def gap_report(self) -> GapReport:
        return self.series.gap_report()

    def __iter__(self) -> Iterator[CandleData]:
        self.format = detect_format(self.path)
        is_csv = self.format is CandleFormat.CSV
        with self._located("line" if is_csv else "index"), open_text(self.path) as stream:
            if is_csv:
                yield from self._checked(_csv_lines(stream, _csv_header(stream)), _csv_row)
            else:
                yield from self._checked(enumerate(JsonArrayReader(stream)), _json_row)

    def batches(
        self, size: int, *, check_prices: bool = True
    ) -> Generator[CandleBatch, None, None]:
        """The same candles as iterating, in batches of at most ``size`` rows (none empty).

        CSV blocks in the plain shape are read by ``parse_plain_csv``; any other block is read
        row by row, which raises the same error at the same line as iterating would. Not to
        ``check_prices``: the plain blocks' prices are left unchecked (``prices_checked``), for
        a caller that has the database check them and, should it refuse one, reads the file
        row by row for the error (``first_error``).
        """
        self.format = detect_format(self.path)
        if self.format is not CandleFormat.CSV:
            candles = iter(self)
            while chunk := list(islice(candles, size)):
                yield CandleBatch.from_candles(chunk)
            return
        with self._located("line"), open_text(self.path) as stream:
            next_line = _csv_header(stream) + 1
            while lines := list(islice(stream, size)):
                block = "".join(lines)
                if not block.endswith("\n"):
                    block += "\n"  # the last line of a file may have no newline
                batch = parse_plain_csv(block, self.series, check_prices=check_prices)
                if batch is None:
                    rows = _csv_lines(lines, next_line - 1)
                    batch = CandleBatch.from_candles(list(self._checked(rows, _csv_row)))
                else:
                    self.rows_read += len(batch)
                next_line += len(lines)
                self._position = next_line - 1
                if len(batch):
                    yield batch

    def first_error(self) -> CandleFileError | None:
        """The error a row-by-row read of the whole file meets first (its line, its words), or
        None: what ``batches`` would have raised had it checked the prices it was told not to."""
        try:
            for _ in CandleReader(self.path, self.timeframe):
                pass
        except CandleFileError as error:
            return error
        return None

    def _checked(
        self, raw_rows: Iterable[tuple[int, Any]], parse: Callable[[Any], _ParsedRow]
    ) -> Iterator[CandleData]:
        for position, raw in raw_rows:
            self._position = position
            ts_ms, values = parse(raw)
            candle = self._candle(ts_ms, values)
            self.rows_read += 1
            yield candle

    @contextmanager
    def _located(self, kind: str) -> Iterator[None]:
        """Turn a row problem or a read error into a ``CandleFileError`` saying where."""
        self._position = None
        try:
            yield
        except _RowProblem as problem:
            at = problem.position if problem.position is not None else self._position
            if problem.whole_file:
                at = None
            raise CandleFileError(str(self.path), kind, at, str(problem)) from None
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
            # A truncated gzip or a binary file: say where reading stopped.
            after = f" after {kind} {self._position}" if self._position is not None else ""
            raise CandleFileError(
                str(self.path), kind, None, f"cannot read the file{after}: {error}"
            ) from error

    def _candle(self, ts_ms: int, values: tuple[Decimal, ...]) -> CandleData:
        open_, high, low, close, volume = values
        if high < max(open_, close):
            raise _RowProblem(f"high {high} is below max(open, close) = {max(open_, close)}")
        if low > min(open_, close):
            raise _RowProblem(f"low {low} is above min(open, close) = {min(open_, close)}")
        if low <= ZERO:  # the lowest price, given the checks above
            prices = zip(VALUE_NAMES[:4], values[:4], strict=True)
            first_bad = next(f"{name} {price}" for name, price in prices if price <= ZERO)
            raise _RowProblem(f"{first_bad} must be positive")
        if volume < ZERO:
            raise _RowProblem(f"volume {volume} is negative")
        _check_fits_money(values)
        if ts_ms < MIN_PLAUSIBLE_MS:
            raise _RowProblem(
                f"timestamp {ts_ms} would be {format_ms(ts_ms)}; timestamps are milliseconds "
                "since the epoch (seconds given?)"
                if ts_ms >= 0
                else f"timestamp {ts_ms} is negative"
            )
        problem = self.series.check(ts_ms)
        if problem is not None:
            raise _RowProblem(problem)
        return CandleData(ms_to_datetime(ts_ms), open_, high, low, close, volume)


def _csv_header(stream: IO[str]) -> int:
    """Check the header; its line number (the first non-blank line)."""
    for header_line, line in enumerate(stream, start=1):
        if line.strip():
            header = tuple(name.strip().lower() for name in line.split(","))
            if header != CSV_HEADER:
                shown = line.strip()[:80]
                raise _RowProblem(
                    f"expected the header '{','.join(CSV_HEADER)}', got {shown!r}", header_line
                )
            return header_line
    raise _RowProblem("the file is empty; expected a CSV header and rows", whole_file=True)


def _csv_lines(lines: Iterable[str], after_line: int) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for each data line; ``after_line`` precedes the first."""
    for line_number, line in enumerate(lines, start=after_line + 1):
        if line.strip():
            yield line_number, line.rstrip("\r\n").split(",")


def _csv_row(fields: list[str]) -> tuple[int, tuple[Decimal, ...]]:
    if len(fields) != len(CSV_HEADER):
        raise _RowProblem(
            f"expected {len(CSV_HEADER)} columns ({','.join(CSV_HEADER)}), got {len(fields)}"
        )
    try:
        ts_ms = int(fields[0])
    except ValueError:
        raise _RowProblem(
            f"timestamp {fields[0].strip()!r} is not an integer number of milliseconds"
        ) from None
    values = []
    for name, text in zip(VALUE_NAMES, fields[1:], strict=True):
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _RowProblem(f"{name} {text.strip()!r} is not a number") from None
        if not value.is_finite():
            raise _RowProblem(f"{name} {text.strip()!r} is not a finite number")
        values.append(value)
    return ts_ms, tuple(values)


def _json_row(row: Any) -> tuple[int, tuple[Decimal, ...]]:
    if not isinstance(row, list):
        raise _RowProblem(
            f"expected a row [timestamp, open, high, low, close, volume], got {row!r}"
        )
    if len(row) != len(CSV_HEADER):
        raise _RowProblem(
            f"expected {len(CSV_HEADER)} values ({','.join(CSV_HEADER)}), got {len(row)}"
        )
    ts = row[0]
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise _RowProblem(f"timestamp {ts!r} is not an integer number of milliseconds")
    values = []
    for name, value in zip(VALUE_NAMES, row[1:], strict=True):
        if value is None and name == "volume":
            values.append(ZERO)  # freqtrade's mark-price candles carry no volume
        elif isinstance(value, Decimal) and value.is_finite():
            values.append(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            values.append(Decimal(value))
        else:
            raise _RowProblem(f"{name} {value!r} is not a number")
    return ts, tuple(values)


def _check_fits_money(values: tuple[Decimal, ...]) -> None:
    """Refuse what NUMERIC(38,18) would silently round or overflow rather than store it changed."""
    for name, value in zip(VALUE_NAMES, values, strict=True):
        if value.adjusted() >= MAX_INTEGER_DIGITS:
            raise _RowProblem(f"{name} {value} is too large (over {MAX_INTEGER_DIGITS} digits)")
        # Exact: the context is wide enough for every value that passed the size check.
        if value.quantize(MONEY_QUANTUM, context=_WIDE_CONTEXT) != value:
            raise _RowProblem(f"{name} {value} has more than {MONEY_SCALE} decimal places")


class JsonArrayReader:
    """Decode the elements of one top-level JSON array one at a time from a text stream.

    Errors carry the array index of the element being read, like row errors do.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        # parse_constant=str turns NaN/Infinity into text, which the row check then rejects.
        self._decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=str)
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self.index = 0

    def _more(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(READ_CHUNK_CHARS)
        if not chunk:
            self._eof = True
            return False
        self._buffer = self._buffer[self._pos :] + chunk  # drop what was consumed
        self._pos = 0
        return True

    def _next_char(self) -> str:
        """The next non-blank character (not consumed), or "" at the end of the file."""
        while True:
            buffer, pos = self._buffer, self._pos
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            self._pos = pos
            if pos < len(buffer):
                return buffer[pos]
            if not self._more():
                return ""

    def _decode(self) -> Any:
        self._next_char()  # raw_decode does not skip leading blanks
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                # An error at the very end of the buffer may only be a row cut by the chunking.
                if error.pos >= len(self._buffer) - 16 and self._more():
                    continue
                raise _RowProblem(f"invalid JSON: {error.msg}", self.index) from None
            if end == len(self._buffer) and self._more():
                continue  # a bare number could go on in the next chunk
            self._pos = end
            return value

    def __iter__(self) -> Iterator[Any]:
        if self._next_char() != "[":
            raise _RowProblem(
                "expected a JSON array of rows [[timestamp, open, ...], ...]", whole_file=True
            )
        self._pos += 1
        if self._next_char() == "]":
            self._pos += 1
        else:
            while True:
                yield self._decode()
                separator = self._next_char()
                self._pos += 1
                if separator == "]":
                    break
                if separator != ",":
                    raise _RowProblem(
                        f"expected ',' or ']' after the row, got {separator or 'end of file'!r}",
                        self.index,
                    )
                self.index += 1
        if self._next_char():
            raise _RowProblem("unexpected data after the closing ']'", whole_file=True)
