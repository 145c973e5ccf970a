"""download_candles and ``autogrid data download`` against the Binance simulator (real ccxt).

The simulator serves a real slice of the 1m BTC/USDT file; what ends up in ``ohlcv`` must equal
that slice value for value, whatever faults and interruptions happen on the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.budget import MemoryBudgets
from autogrid.exchanges.ccxt import CcxtConnector, budget_spec_for
from autogrid.exchanges.errors import TemporaryExchangeError
from autogrid.exchanges.pool import ConnectorKey
from autogrid.exchanges.retry import RetryPolicy
from autogrid.exchanges.types import ApiCredentials, CandleData
from autogrid.market_data.cli import DataContext, data_group
from autogrid.market_data.download import DownloadProgress, DownloadReport, download_candles
from autogrid.market_data.repository import count_candles, fetch_candles
from autogrid.market_data.timeframes import ms_to_datetime
from tests.exchange_sim import BinanceSimulator, RequestRecord
from tests.exchanges.conftest import FAST_RETRY, sim_api_urls
from tests.market_data.conftest import BTC_1M, head_lines

MINUTE = timedelta(minutes=1)
SLICE_START, SLICE_ROWS = 10_000, 2_500  # rows 10,000..12,499 of the file: 2025-05-26 onwards
# These tests count the simulator's requests and inject no delay: a long client timeout, since a
# page of 1,000 candles can outlast the exchange tests' 400 ms on a loaded machine, and the read
# retried after a timeout is one request more than the test expects.
CLIENT_TIMEOUT_MS = 30_000
PAGE_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_elapsed=10)
KLINES = "GET /api/v3/klines"

Row = list[Any]


def real_rows(skip: Sequence[range] = ()) -> list[Row]:
    """``[ts_ms, open, high, low, close, volume]`` of the slice, values as the file writes them."""
    lines = head_lines(BTC_1M, SLICE_START + SLICE_ROWS)[1 + SLICE_START :]
    rows = [[int(ts), *values] for ts, *values in (line.strip().split(",") for line in lines)]
    dropped = {i for r in skip for i in r}
    return [row for i, row in enumerate(rows) if i not in dropped]


SOURCE = real_rows()
FIRST = ms_to_datetime(SOURCE[0][0])
END = ms_to_datetime(SOURCE[-1][0]) + MINUTE  # exclusive


def at(index: int) -> datetime:
    return FIRST + index * MINUTE


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    async with BinanceSimulator(load_default_candles=False) as simulator:
        simulator.set_candles("BTC/USDT", "1m", SOURCE)
        yield simulator


def simulator_connector(sim: BinanceSimulator) -> CcxtConnector:
    connector = CcxtConnector(
        "binance",
        budget=MemoryBudgets().budget_for("binance", "public", budget_spec_for("binance")),
        timeout_ms=CLIENT_TIMEOUT_MS,
        retry_policy=FAST_RETRY,
        api_urls=sim_api_urls(sim.url),
    )
    connector._exchange.timeout_on_exit = 0
    return connector


@pytest.fixture
async def connector(sim: BinanceSimulator) -> AsyncIterator[CcxtConnector]:
    made = simulator_connector(sim)
    yield made
    await made.close()


def klines(sim: BinanceSimulator) -> list[RequestRecord]:
    return sim.request_log("GET", "/api/v3/klines")


def start_times(sim: BinanceSimulator) -> list[datetime]:
    return [ms_to_datetime(int(r.params["startTime"])) for r in klines(sim) if r.status == 200]


async def download(
    database: Database,
    connector: ExchangeConnector,
    since: datetime = FIRST,
    until: datetime | None = END,
    on_progress: Callable[[DownloadProgress], None] | None = None,
) -> DownloadReport:
    return await download_candles(
        database,
        connector,
        "binance",
        "BTC/USDT",
        "1m",
        since,
        until,
        on_progress,
        retry=PAGE_RETRY,
    )


async def stored_candles(database: Database) -> list[CandleData]:
    async with database.session_scope() as session:
        return await fetch_candles(session, "binance", "BTC/USDT", "1m", limit=100_000)


def assert_equals_source(candles: list[CandleData], rows: list[Row] = SOURCE) -> None:
    assert len(candles) == len(rows)
    for candle, row in zip(candles, rows, strict=True):
        assert candle.ts == ms_to_datetime(row[0])
        values = (candle.open, candle.high, candle.low, candle.close, candle.volume)
        assert values == tuple(Decimal(text) for text in row[1:]), row


async def test_a_download_stores_the_real_series_exactly(
    database: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    progress: list[DownloadProgress] = []

    report = await download(database, connector, on_progress=progress.append)

    assert_equals_source(await stored_candles(database))
    assert (report.expected, report.stored, report.received, report.inserted) == (2500,) * 4
    assert report.complete and report.pages == 3 and report.duplicates == 0
    assert report.gaps.gap_count == 0 and report.missing_before == report.missing_after == 0
    assert report.resumed_from is None
    assert [r.params["limit"] for r in klines(sim)] == ["1000", "1000", "500"]
    assert start_times(sim) == [at(0), at(1000), at(2000)]
    assert [(p.pages, p.received, p.through) for p in progress] == [
        (1, 1000, at(999)),
        (2, 2000, at(1999)),
        (3, 2500, at(2499)),
    ]
    assert progress[-1].fraction == pytest.approx(2499 / 2500)


async def test_a_stored_range_is_not_fetched_again(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    await download(db, connector)
    requests = len(sim.requests)

    again = await download(db, connector)

    assert again.pages == 0 and again.inserted == 0 and again.complete
    assert len(sim.requests) == requests


async def test_a_429_with_retry_after_and_a_5xx_mid_download_are_survived(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    def trouble_after_the_first_page(progress: DownloadProgress) -> None:
        if progress.pages == 1:
            sim.inject_fault("rate_limit", KLINES, retry_after=1)
            sim.inject_fault("http_error", KLINES, status=502)

    report = await download(db, connector, on_progress=trouble_after_the_first_page)

    assert_equals_source(await stored_candles(db))
    assert report.complete and report.inserted == 2500
    statuses = [(r.status, r.fault) for r in klines(sim)]
    assert statuses == [
        (200, None),
        (429, "rate_limit"),
        (502, "http_error"),
        (200, None),
        (200, None),
    ]
    limited, retried = klines(sim)[1], klines(sim)[2]
    assert retried.time_ms - limited.time_ms >= 950  # Retry-After: 1 was honoured


async def test_pages_are_retried_when_the_connector_gives_up(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    # The connector tries 3 times; the fourth failure reaches the download's own page retry.
    sim.inject_fault("http_error", KLINES, times=4, status=503)

    report = await download(db, connector)

    assert report.complete
    assert_equals_source(await stored_candles(db))
    assert [r.status for r in klines(sim)][:5] == [503, 503, 503, 503, 200]


async def test_an_interrupted_download_resumes_where_it_stopped_without_duplicates(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    task: asyncio.Task[DownloadReport] | None = None

    def interrupt_after_two_pages(progress: DownloadProgress) -> None:
        if progress.pages == 2 and task is not None:
            task.cancel()  # Ctrl-C while the third page is being fetched

    task = asyncio.create_task(download(db, connector, on_progress=interrupt_after_two_pages))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(await stored_candles(db)) == 2000  # both committed pages were kept

    resumed = await download(db, connector)

    assert resumed.resumed_from == at(2000)
    assert start_times(sim)[-1] == at(2000)
    assert (resumed.pages, resumed.inserted, resumed.duplicates) == (1, 500, 0)
    assert resumed.complete
    assert_equals_source(await stored_candles(db))


async def test_an_exchange_that_stays_down_keeps_the_pages_written_before(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    def outage_after_the_first_page(progress: DownloadProgress) -> None:
        sim.inject_fault("http_error", KLINES, times=None, status=500)

    with pytest.raises(TemporaryExchangeError):
        await download(db, connector, on_progress=outage_after_the_first_page)
    assert len(await stored_candles(db)) == 1000

    sim.clear_faults()
    resumed = await download(db, connector)

    assert resumed.resumed_from == at(1000) and resumed.inserted == 1500
    assert_equals_source(await stored_candles(db))


async def test_gaps_the_exchange_has_are_reported_not_errors(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    gappy = real_rows(skip=[range(500, 510), range(1500, 1503)])
    sim.set_candles("BTC/USDT", "1m", gappy)

    first = await download(db, connector)
    requests = len(klines(sim))
    again = await download(db, connector)

    assert_equals_source(await stored_candles(db), gappy)
    for report in (first, again):
        assert report.stored == 2487 and report.expected == 2500 and not report.complete
        assert (report.gaps.gap_count, report.gaps.missing_candles) == (2, 13)
        assert [str(gap) for gap in report.gaps.examples] == [
            f"{at(499):%Y-%m-%dT%H:%MZ} -> {at(510):%Y-%m-%dT%H:%MZ} (10 missing)",
            f"{at(1499):%Y-%m-%dT%H:%MZ} -> {at(1503):%Y-%m-%dT%H:%MZ} (3 missing)",
        ]
    assert first.inserted == 2487
    # Asking again looks into the first gap once; that page also covers the second one.
    assert len(klines(sim)) == requests + 1 and start_times(sim)[-1] == at(500)
    assert again.inserted == 0 and again.duplicates == 1000


async def test_a_range_stored_in_pieces_fetches_only_what_is_missing(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    await download(db, connector, since=at(0), until=at(300))
    await download(db, connector, since=at(1400), until=at(1700))
    before = len(klines(sim))

    report = await download(db, connector)

    # Full pages from the first hole: 300..1299, 1300..2299 (1400..1699 came again: one
    # request either way), 2300..2499. Nothing before the first hole is asked for. (Distinct
    # starts: on a loaded machine a timed-out page is asked for again, which changes nothing.)
    assert sorted(set(start_times(sim)[before:])) == [at(300), at(1300), at(2300)]
    assert report.resumed_from == at(300)
    assert (report.inserted, report.duplicates) == (1900, 300) and report.complete
    assert_equals_source(await stored_candles(db))


async def test_candles_before_the_listing_and_after_the_last_are_reported_missing(
    db: Database, connector: CcxtConnector
) -> None:
    report = await download(db, connector, since=at(-100), until=at(2530))

    assert report.expected == 2630 and report.stored == 2500
    assert (report.missing_before, report.missing_after) == (100, 30)
    assert report.first_ts == at(0) and report.last_ts == at(2499)
    assert report.gaps.gap_count == 0


async def test_the_candle_in_progress_is_never_stored(
    db: Database, connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    now = at(1234) + timedelta(seconds=20)  # candle 1234 is still open

    report = await download_candles(
        db, connector, "binance", "BTC/USDT", "1m", FIRST, None, now=now, retry=PAGE_RETRY
    )

    assert report.end == at(1234) and report.stored == 1234
    assert (await stored_candles(db))[-1].ts == at(1233)


# ----------------------------------------------------------------------------------- CLI


def simulator_factory(sim: BinanceSimulator) -> Callable[..., ExchangeConnector]:
    def build(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        assert key.exchange_id == "binance" and credentials is None
        return simulator_connector(sim)

    return build


async def invoke(settings: Settings, sim: BinanceSimulator, *args: str) -> Result:
    context = DataContext(settings, simulator_factory(sim), page_retry=PAGE_RETRY)
    # The command runs its own event loop (asyncio.run), so it runs in a thread outside this one.
    return await asyncio.to_thread(CliRunner().invoke, data_group, ["download", *args], obj=context)


SERIES = ["--exchange", "binance", "--symbol", "btc/usdt", "--timeframe", "1m"]
RANGE = ["--since", f"{FIRST:%Y-%m-%dT%H:%M}Z", "--until", str(int(END.timestamp() * 1000))]


async def test_the_cli_prints_progress_and_totals_then_resumes(
    settings: Settings, db: Database, sim: BinanceSimulator
) -> None:
    first = await invoke(
        settings,
        sim,
        *SERIES,
        "--since",
        f"{FIRST:%Y-%m-%dT%H:%M}Z",
        "--until",
        f"{at(1500):%Y-%m-%dT%H:%M:%S}",
    )
    second = await invoke(settings, sim, *SERIES, *RANGE)

    assert first.exit_code == 0, first.output
    assert (
        f"page     1: 1000 candles received, 1000 new, through {at(999):%Y-%m-%dT%H:%MZ} (67%)"
        in first.output
    )
    assert "inserted:   1500" in first.output and "gaps:       none" in first.output
    assert second.exit_code == 0, second.output
    assert f"resumed at: {at(1500):%Y-%m-%dT%H:%MZ}" in second.output
    assert "inserted:   1000" in second.output
    assert "stored:     2500 of 2500" in second.output
    assert_equals_source(await stored_candles(db))


async def test_cli_usage_errors(settings: Settings, sim: BinanceSimulator) -> None:
    cases = {
        ("--exchange", "nope", "--symbol", "BTC/USDT", "--timeframe", "1m"): "unknown exchange",
        ("--exchange", "binance", "--symbol", "BTCUSDT", "--timeframe", "1m"): "not a spot symbol",
        ("--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "60m"): "'1h'",
    }
    for args, message in cases.items():
        result = await invoke(settings, sim, *args, "--since", "2025-05-26")
        assert result.exit_code == 2, result.output
        assert message in result.output
    bad_since = await invoke(settings, sim, *SERIES, "--since", "last tuesday")
    backwards = await invoke(
        settings, sim, *SERIES, "--since", "2025-05-26", "--until", "2025-05-25"
    )

    assert bad_since.exit_code == 2 and "--since must be milliseconds" in bad_since.output
    assert backwards.exit_code == 2 and "--until must be after --since" in backwards.output
    assert sim.requests == []


async def test_cli_unknown_market_and_exchange_outage(
    settings: Settings, db: Database, sim: BinanceSimulator
) -> None:
    unknown = await invoke(
        settings, sim, "--exchange", "binance", "--symbol", "DOGE/USDT", "--timeframe", "1m",
        "--since", "2025-05-26",
    )  # fmt: skip
    sim.inject_fault("http_error", KLINES, times=None, status=500)
    down = await invoke(settings, sim, *SERIES, *RANGE)

    assert unknown.exit_code == 1 and "binance has no spot market DOGE/USDT" in unknown.output
    assert down.exit_code == 1
    assert "download stopped:" in down.output
    assert "nothing was stored; run the same command again to retry" in down.output
    async with db.session_scope() as session:
        assert await count_candles(session, "binance", "BTC/USDT", "1m") == 0
