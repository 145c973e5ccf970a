"""Download candles from an exchange into ``ohlcv``: paged, rate-limit aware, resumable.

Used by ``autogrid data download`` and by the API's ohlcv fill-in. How one download proceeds:

1. The range is aligned to the timeframe: from the first candle opening at or after ``since`` to
   the last *closed* candle opening before ``until`` (never the candle still in progress: its
   values change until it closes, and a stored candle is taken as final).
2. The first candle of the range missing from the table is found with a few COUNT queries (a
   binary search), so a range whose beginning is stored (an interrupted download) resumes right
   after its newest stored candle, and a range stored in separate pieces fetches only the holes.
3. Each hole is fetched page by page through the connector, and every page is upserted and
   committed on its own: an interruption loses nothing already written. Candles the exchange
   sends again that are already stored are counted as duplicates and never stored twice.
4. Temporary errors (5xx, timeouts, 429/418) are retried by the connector and, when it gives up,
   once more here with a longer backoff that honours Retry-After. A 429 also pauses the shared
   request budget, so every process using the exchange slows down, not only this one.
5. Finally the stored range is read once more: what is still missing are gaps the exchange
   really has (an outage, a market listed later). They are reported, not raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from autogrid.core.db import Database
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.retry import RetryPolicy, retry_call
from autogrid.exchanges.types import CandleData
from autogrid.market_data.candle_upserts import UpsertCounts, upsert_candles
from autogrid.market_data.repository import count_candles, fetch_candles
from autogrid.market_data.series import DEFAULT_GAP_EXAMPLES, GapReport, SeriesChecker
from autogrid.market_data.timeframes import (
    Timeframe,
    datetime_to_ms,
    ms_to_datetime,
    parse_timeframe,
)

# Binance serves 1000 klines per request; the connector splits a page further on exchanges that
# serve fewer, so a page is also the unit of commit.
DEFAULT_PAGE_CANDLES = 1000
# On top of the connector's own retries (about 30 s at most): a long download rides out a few
# minutes of exchange trouble before giving up; it can be resumed anyway.
PAGE_RETRY = RetryPolicy(max_attempts=6, base_delay=2.0, max_delay=60.0, max_elapsed=300.0)
_SCAN_ROWS = 20_000

ProgressCallback = Callable[["DownloadProgress"], None]


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Reported after each committed page."""

    pages: int
    received: int
    inserted: int
    through: datetime  # open time of the newest candle of the page
    start: datetime
    end: datetime  # exclusive

    @property
    def fraction(self) -> float:
        """How far through the range the download is, 0..1 (by time, not by candle count)."""
        span = (self.end - self.start).total_seconds()
        return 1.0 if span <= 0 else min(1.0, (self.through - self.start).total_seconds() / span)


@dataclass(frozen=True, slots=True)
class DownloadReport:
    exchange: str
    symbol: str
    timeframe: str
    start: datetime  # first candle of the range
    end: datetime  # exclusive: the first candle after the range
    expected: int  # candles in the range if the exchange had every one
    resumed_from: datetime | None  # first candle fetched, when the range began already stored
    pages: int  # connector calls that returned
    received: int  # candles received inside the range
    counts: UpsertCounts
    stored: int  # candles of the range in the table afterwards
    first_ts: datetime | None
    last_ts: datetime | None
    missing_before: int  # nothing stored between ``start`` and the first stored candle
    missing_after: int  # nor between the last stored candle and ``end``
    gaps: GapReport  # holes between stored candles: gaps the exchange really has
    misaligned: int = 0  # candles the exchange sent off the timeframe's grid (skipped)

    @property
    def inserted(self) -> int:
        return self.counts.inserted

    @property
    def duplicates(self) -> int:
        """Candles received again that were already stored (left as they were, or corrected)."""
        return self.counts.unchanged + self.counts.updated

    @property
    def complete(self) -> bool:
        return self.stored == self.expected


@dataclass(frozen=True, slots=True)
class _Series:
    exchange: str
    symbol: str
    frame: Timeframe

    @property
    def step(self) -> int:
        return self.frame.ms


@dataclass(slots=True)
class _Tally:
    pages: int = 0
    received: int = 0
    misaligned: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)


def ceil_to_frame(frame: Timeframe, ts_ms: int) -> int:
    """Open time of the first candle opening at or after ``ts_ms``."""
    floor = frame.floor(ts_ms)
    return floor if floor == ts_ms else floor + frame.ms


def closed_range(
    frame: Timeframe, since: datetime, until: datetime | None, now: datetime
) -> tuple[int, int]:
    """``[start, end)`` in ms: candles opening at or after ``since`` and before ``until``, closed
    by ``now`` (the candle in progress is left out). ``start >= end`` means nothing to get."""
    start = ceil_to_frame(frame, datetime_to_ms(since))
    end = frame.floor(datetime_to_ms(now))
    if until is not None:
        end = min(end, ceil_to_frame(frame, datetime_to_ms(until)))
    return start, end


async def download_candles(
    database: Database,
    connector: ExchangeConnector,
    exchange: str,
    symbol: str,
    timeframe: str | Timeframe,
    since: datetime,
    until: datetime | None = None,
    on_progress: ProgressCallback | None = None,
    *,
    page_candles: int = DEFAULT_PAGE_CANDLES,
    retry: RetryPolicy = PAGE_RETRY,
    now: datetime | None = None,
) -> DownloadReport:
    """Fetch and store every missing closed candle of ``[since, until)`` (``until`` None: now).

    Raises the connector's ``ExchangeError`` when the exchange stays unavailable or refuses the
    request; every page committed before that stays stored, and running again resumes.
    """
    if page_candles < 1:
        raise ValueError("page_candles must be at least 1")
    frame = timeframe if isinstance(timeframe, Timeframe) else parse_timeframe(timeframe)
    series = _Series(exchange, symbol, frame)
    start, end = closed_range(frame, since, until, now or datetime.now(UTC))
    tally = _Tally()
    resumed_from: int | None = None
    cursor = start
    while cursor < end and (hole := await _next_hole(database, series, cursor, end)) is not None:
        hole_start, next_stored = hole
        if hole_start > start and resumed_from is None and tally.pages == 0:
            resumed_from = hole_start
        reached = await _fill(
            database,
            connector,
            series,
            hole_start,
            next_stored,
            end,
            tally,
            on_progress,
            page_candles=page_candles,
            retry=retry,
            range_start=start,
        )
        cursor = max(reached, next_stored)
    return await _report(database, series, start, end, tally, resumed_from)


async def _fill(
    database: Database,
    connector: ExchangeConnector,
    series: _Series,
    hole_start: int,
    next_stored: int,
    end: int,
    tally: _Tally,
    on_progress: ProgressCallback | None,
    *,
    page_candles: int,
    retry: RetryPolicy,
    range_start: int,
) -> int:
    """Fetch pages from ``hole_start`` until past ``next_stored``; returns where it got to.

    A page may run past the hole's end (a full page costs one request either way, and covers the
    small holes behind it); the candles already stored in it are counted, not written twice.
    """
    position = hole_start
    while position < next_stored:
        want = min(page_candles, (end - position) // series.step)
        since = ms_to_datetime(position)
        candles = await retry_call(
            partial(connector.fetch_ohlcv, series.symbol, series.frame.name, since, want),
            retry,
            what=f"{series.exchange} {series.symbol} {series.frame.name} candles",
        )
        page = _page_in_range(candles, series.frame, position, end, tally)
        if not page:
            break  # the exchange has nothing more from here on
        async with database.session_scope() as session:  # one commit per page
            counts = await upsert_candles(
                session, series.exchange, series.symbol, series.frame.name, page
            )
        tally.pages += 1
        tally.received += len(page)
        tally.counts += counts
        last = datetime_to_ms(page[-1].ts)
        if on_progress is not None:
            on_progress(
                DownloadProgress(
                    pages=tally.pages,
                    received=tally.received,
                    inserted=tally.counts.inserted,
                    through=page[-1].ts,
                    start=ms_to_datetime(range_start),
                    end=ms_to_datetime(end),
                )
            )
        position = last + series.step
        if len(candles) < want:
            break  # a short page: the exchange had no more candles after these
    return position


def _page_in_range(
    candles: list[CandleData], frame: Timeframe, position: int, end: int, tally: _Tally
) -> list[CandleData]:
    page: list[CandleData] = []
    for candle in sorted(candles, key=lambda c: c.ts):
        ts = datetime_to_ms(candle.ts)
        if not position <= ts < end:
            continue
        if not frame.is_aligned(ts):
            tally.misaligned += 1
            continue
        page.append(candle)
    return page


async def _next_hole(
    database: Database, series: _Series, cursor: int, end: int
) -> tuple[int, int] | None:
    """The first missing candle at or after ``cursor`` and the next stored candle after it (or
    ``end``); None when ``[cursor, end)`` is complete. O(log n) COUNT queries on the key index."""
    step = series.step
    total = (end - cursor) // step
    async with database.session_scope() as session:

        async def complete(candles: int) -> bool:
            stored = await count_candles(
                session,
                series.exchange,
                series.symbol,
                series.frame.name,
                ms_to_datetime(cursor),
                ms_to_datetime(cursor + candles * step),
            )
            return stored >= candles

        if await complete(total):
            return None
        low, high = 0, total - 1  # the first missing index is in [low, high]
        while low < high:
            middle = (low + high) // 2
            if await complete(middle + 1):
                low = middle + 1
            else:
                high = middle
        hole_start = cursor + low * step
        following = await fetch_candles(
            session,
            series.exchange,
            series.symbol,
            series.frame.name,
            ms_to_datetime(hole_start),
            ms_to_datetime(end),
            limit=1,
        )
    next_stored = datetime_to_ms(following[0].ts) if following else end
    return hole_start, next_stored


async def _report(
    database: Database,
    series: _Series,
    start: int,
    end: int,
    tally: _Tally,
    resumed_from: int | None,
) -> DownloadReport:
    """Read the stored range back (in chunks) to count it and find the gaps left."""
    checker = SeriesChecker(series.frame, gap_examples=DEFAULT_GAP_EXAMPLES)
    stored = 0
    cursor = start
    while cursor < end:
        async with database.session_scope() as session:
            chunk = await fetch_candles(
                session,
                series.exchange,
                series.symbol,
                series.frame.name,
                ms_to_datetime(cursor),
                ms_to_datetime(end),
                limit=_SCAN_ROWS,
            )
        for candle in chunk:
            checker.check(datetime_to_ms(candle.ts))  # a problem here would be a gap: counted
        stored += len(chunk)
        if len(chunk) < _SCAN_ROWS:
            break
        cursor = datetime_to_ms(chunk[-1].ts) + 1
    first, last = checker.first_ms, checker.last_ms
    step = series.step
    expected = max(0, (end - start) // step)
    return DownloadReport(
        exchange=series.exchange,
        symbol=series.symbol,
        timeframe=series.frame.name,
        start=ms_to_datetime(start),
        end=ms_to_datetime(max(start, end)),
        expected=expected,
        resumed_from=None if resumed_from is None else ms_to_datetime(resumed_from),
        pages=tally.pages,
        received=tally.received,
        counts=tally.counts,
        stored=stored,
        first_ts=None if first is None else ms_to_datetime(first),
        last_ts=None if last is None else ms_to_datetime(last),
        missing_before=expected if first is None else (first - start) // step,
        missing_after=0 if last is None else max(0, (end - step - last) // step),
        gaps=checker.gap_report(),
        misaligned=tally.misaligned,
    )
