"""GET /exchanges/{id}/ohlcv: served from the table; a missing range is fetched, stored, served."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from autogrid.core.db import Database
from autogrid.market_data.repository import count_candles
from tests.exchange_sim import BinanceSimulator
from tests.exchange_sim.candles import Candle, aggregate, load_csv
from tests.exchanges.api.conftest import kline_requests
from tests.helpers import ApiUser, assert_error_shape

OHLCV = "/api/v1/exchanges/binance/ohlcv"
FIRST_MS = 1_747_699_200_000  # 2025-05-20T00:00Z, the simulator's first 1m candle
MINUTE_MS = 60_000


@pytest.fixture(scope="module")
def source() -> list[Candle]:
    """The simulator's BTC/USDT 1m series: the first 5,000 rows of the real candle file."""
    candles = load_csv()
    if not candles:
        pytest.skip("the real candle file is not on this machine")
    return candles


def assert_candles_equal(received: list[dict[str, Any]], expected: list[Candle]) -> None:
    assert len(received) == len(expected)
    for row, candle in zip(received, expected, strict=True):
        opened = datetime.fromisoformat(row["ts"])
        assert int(opened.timestamp() * 1000) == candle.open_time
        for name in ("open", "high", "low", "close", "volume"):
            assert isinstance(row[name], str)
            assert Decimal(row[name]) == getattr(candle, name), (row, candle)


async def stored(db: Database, timeframe: str = "1m") -> int:
    async with db.session_scope() as session:
        return await count_candles(session, "binance", "BTC/USDT", timeframe)


async def get(api: httpx.AsyncClient, user: ApiUser, **params: Any) -> httpx.Response:
    params.setdefault("symbol", "BTC/USDT")
    params.setdefault("timeframe", "1m")
    return await api.get(OHLCV, params=params, headers=user.headers)


async def test_a_missing_range_is_fetched_stored_and_then_served_from_the_table(
    api: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    db: Database,
    source: list[Candle],
) -> None:
    first = await get(api, user, since="2025-05-20T00:00:00Z", limit=300)
    second = await get(api, user, since="2025-05-20T00:00:00Z", limit=300)

    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["exchange"], body["symbol"], body["timeframe"]) == ("binance", "BTC/USDT", "1m")
    assert body["fetched"] == 300
    assert_candles_equal(body["candles"], source[:300])
    assert await stored(db) == 300
    (request,) = kline_requests(sim)  # one page
    assert request.params["startTime"] == str(FIRST_MS) and request.params["limit"] == "300"
    assert second.status_code == 200
    assert second.json() == {**body, "fetched": 0}
    assert len(kline_requests(sim)) == 1  # served from the table: no exchange call


async def test_only_the_missing_part_of_a_range_is_fetched(
    api: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    db: Database,
    source: list[Candle],
) -> None:
    await get(api, user, since=FIRST_MS, limit=50)

    wider = await get(api, user, since=FIRST_MS, limit=120)

    assert wider.status_code == 200, wider.text
    assert wider.json()["fetched"] == 70
    assert_candles_equal(wider.json()["candles"], source[:120])
    assert [r.params["startTime"] for r in kline_requests(sim)] == [
        str(FIRST_MS),
        str(FIRST_MS + 50 * MINUTE_MS),
    ]
    assert await stored(db) == 120


async def test_since_in_milliseconds_iso_8601_or_a_date(
    api: httpx.AsyncClient, user: ApiUser, source: list[Candle]
) -> None:
    as_ms = await get(api, user, since=FIRST_MS + 30 * MINUTE_MS, limit=5)
    as_iso = await get(api, user, since="2025-05-20T02:30:00+02:00", limit=5)
    naive = await get(api, user, since="2025-05-20T00:30:00", limit=5)  # read as UTC
    mid_candle = await get(api, user, since="2025-05-20T00:29:30Z", limit=5)  # next candle
    as_date = await get(api, user, since="2025-05-20", limit=5)

    for response in (as_ms, as_iso, naive, mid_candle):
        assert response.status_code == 200, response.text
        assert_candles_equal(response.json()["candles"], source[30:35])
    assert_candles_equal(as_date.json()["candles"], source[:5])


async def test_coarser_timeframes(
    api: httpx.AsyncClient, user: ApiUser, db: Database, source: list[Candle]
) -> None:
    response = await get(api, user, timeframe="1h", since=FIRST_MS, limit=24)

    assert response.status_code == 200, response.text
    assert_candles_equal(response.json()["candles"], aggregate(source, 3_600_000)[:24])
    assert await stored(db, "1h") == 24 and await stored(db, "1m") == 0


async def test_without_since_the_latest_closed_candles(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, source: list[Candle]
) -> None:
    # The real series moved in time so that its last row is the candle still in progress.
    now_minute = int(datetime.now(UTC).timestamp() * 1000) // MINUTE_MS * MINUTE_MS
    shift = now_minute - source[199].open_time
    moved = [
        Candle(c.open_time + shift, c.open, c.high, c.low, c.close, c.volume) for c in source[:200]
    ]
    sim.set_candles(
        "BTC/USDT", "1m", [[c.open_time, c.open, c.high, c.low, c.close, c.volume] for c in moved]
    )

    response = await get(api, user, limit=100)

    assert response.status_code == 200, response.text
    candles = response.json()["candles"]
    if candles and int(datetime.fromisoformat(candles[-1]["ts"]).timestamp() * 1000) != (
        moved[198].open_time
    ):
        pytest.skip("the minute turned during the test")
    assert_candles_equal(candles, moved[99:199])  # never the candle in progress


async def test_an_exchange_gap_is_served_and_not_asked_for_again(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, source: list[Candle]
) -> None:
    # The simulator's series ends at 2025-05-23T11:19Z: 20 of these 60 minutes exist.
    since = source[-20].open_time

    first = await get(api, user, since=since, limit=60)
    again = await get(api, user, since=since, limit=60)

    assert first.status_code == again.status_code == 200
    assert_candles_equal(first.json()["candles"], source[-20:])
    assert_candles_equal(again.json()["candles"], source[-20:])
    assert len(kline_requests(sim)) == 1


async def test_concurrent_requests_for_one_range_share_one_fetch(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, db: Database
) -> None:
    sim.inject_fault("delay", "GET /api/v3/klines", seconds=0.2)

    responses = await asyncio.gather(*(get(api, user, since=FIRST_MS, limit=40) for _ in range(5)))

    assert [len(r.json()["candles"]) for r in responses] == [40] * 5
    assert len(kline_requests(sim)) == 1
    assert await stored(db) == 40


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"timeframe": "60m"}, "timeframe"),
        ({"timeframe": "7x"}, "timeframe"),
        ({"timeframe": "1M"}, "timeframe"),
        ({"timeframe": ""}, "timeframe"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"since": "-5"}, "since"),
        ({"since": "99999999999999999"}, "since"),
        ({"since": "2150-01-01"}, "since"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"symbol": "BTC/USDT/X"}, "symbol"),
        ({"url": "http://169.254.169.254/"}, "url"),
    ],
)
async def test_bad_input_is_a_422(
    api: httpx.AsyncClient,
    user: ApiUser,
    sim: BinanceSimulator,
    params: dict[str, Any],
    where: str,
) -> None:
    response = await get(api, user, **params)

    assert_error_shape(response, 422, "validation_error")
    assert response.json()["error"]["details"][0]["loc"] == ["query", where]
    assert sim.requests == []


async def test_a_timeframe_the_exchange_does_not_offer_is_a_422(
    api: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    response = await get(api, user, timeframe="7m", since=FIRST_MS, limit=10)

    assert_error_shape(response, 422, "exchange_refused")
    assert await stored(db, "7m") == 0


async def test_unknown_symbol_unknown_exchange_and_no_login(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    symbol = await get(api, user, symbol="DOGE/USDT", since=FIRST_MS, limit=10)
    exchange = await api.get(
        "/api/v1/exchanges/nope/ohlcv",
        params={"symbol": "BTC/USDT", "timeframe": "1m"},
        headers=user.headers,
    )
    anonymous = await api.get(OHLCV, params={"symbol": "BTC/USDT", "timeframe": "1m"})

    assert_error_shape(symbol, 404, "unknown_symbol")
    assert_error_shape(exchange, 404, "unknown_exchange")
    assert_error_shape(anonymous, 401, "unauthorized")
    assert kline_requests(sim) == []


async def test_an_exchange_outage_during_the_fill_in_is_a_503(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator, db: Database
) -> None:
    sim.inject_fault("http_error", "GET /api/v3/klines", times=None, status=500)

    response = await get(api, user, since=FIRST_MS, limit=10)

    assert_error_shape(response, 503, "exchange_unavailable")
    assert await stored(db) == 0


async def test_a_rate_limit_during_the_fill_in_is_a_503_with_retry_after(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    sim.inject_fault("rate_limit", "GET /api/v3/klines", times=None, retry_after=30)

    response = await get(api, user, since=FIRST_MS, limit=10)

    assert_error_shape(response, 503, "exchange_unavailable")
    assert response.headers["Retry-After"] == "30"


async def test_a_future_since_is_an_empty_answer(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    response = await get(api, user, since="2099-01-01", limit=10)

    assert response.status_code == 200
    assert response.json()["candles"] == [] and response.json()["fetched"] == 0
    assert sim.requests == []
