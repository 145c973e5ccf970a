"""Public endpoints through a real ccxt binance: markets, tickers, depth and klines."""

from __future__ import annotations

import ccxt.async_support as ccxt_async
import pytest

from tests.exchange_sim import BinanceSimulator, make_ccxt_binance
from tests.exchange_sim.candles import DEFAULT_CANDLE_FILE, aggregate, load_csv

MINUTE = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000  # an hour boundary


def minute_candles(count: int, start: int = T0) -> list[list[object]]:
    return [
        [start + i * MINUTE, 100 + i, 101 + i, 99 + i, 100.5 + i, 1 + i % 3] for i in range(count)
    ]


async def test_load_markets_hits_only_exchange_info_and_derives_precision(
    sim: BinanceSimulator,
) -> None:
    client = make_ccxt_binance(sim.url)
    try:
        markets = await client.load_markets()
    finally:
        await client.close()
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"]
    assert btc["precision"]["price"] == 0.01
    assert btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0
    assert markets["ETH/USDT"]["precision"]["amount"] == 0.0001
    assert [(r.method, r.path) for r in sim.requests] == [("GET", "/api/v3/exchangeInfo")]
    assert sim.unhandled_requests() == []


async def test_ticker_follows_the_controlled_price(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_price("BTC/USDT", "101234.56")
    ticker = await exchange.fetch_ticker("BTC/USDT")
    assert ticker["last"] == 101234.56
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert ticker["high"] == 101234.56 and ticker["low"] == 100000


async def test_fetch_tickers_all_and_subset(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_price("ETH/USDT", 2600)
    everything = await exchange.fetch_tickers()
    assert set(everything) == {"BTC/USDT", "ETH/USDT"}
    subset = await exchange.fetch_tickers(["ETH/USDT"])
    assert list(subset) == ["ETH/USDT"]
    assert subset["ETH/USDT"]["last"] == 2600
    assert '["ETHUSDT"]' in sim.requests[-1].params["symbols"]


async def test_order_book_is_centered_on_the_price_with_the_requested_depth(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_price("BTC/USDT", 50000)
    book = await exchange.fetch_order_book("BTC/USDT", limit=5)
    assert [level[0] for level in book["bids"]] == [
        49999.99,
        49999.98,
        49999.97,
        49999.96,
        49999.95,
    ]
    assert book["asks"][0][0] == 50000.01
    assert len(book["asks"]) == 5


async def test_unknown_symbol_on_a_public_endpoint_is_bad_symbol(
    exchange: ccxt_async.binance,
) -> None:
    with pytest.raises(ccxt_async.BadSymbol, match="-1121"):
        await exchange.public_get_depth({"symbol": "DOGEUSDT"})


async def test_ohlcv_pages_forward_from_since_with_limit(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_candles("ETH/USDT", "1m", minute_candles(1500))
    first = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=T0, limit=3)
    assert [c[0] for c in first] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert first[0][1:] == [100, 101, 99, 100.5, 1]
    # The next page starts after the last candle seen, as a paginating client does.
    second = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=first[-1][0] + 1, limit=2)
    assert [c[0] for c in second] == [T0 + 3 * MINUTE, T0 + 4 * MINUTE]
    capped = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=T0, limit=5000)
    assert len(capped) == 1000  # Binance's maximum per request
    assert sim.requests[-1].params["limit"] == "1000"


async def test_ohlcv_without_since_returns_the_latest_and_honours_until(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_candles("ETH/USDT", "1m", minute_candles(600))
    latest = await exchange.fetch_ohlcv("ETH/USDT", "1m")
    assert len(latest) == 500  # Binance's default limit
    assert latest[-1][0] == T0 + 599 * MINUTE
    until = await exchange.fetch_ohlcv(
        "ETH/USDT", "1m", limit=2, params={"until": T0 + 10 * MINUTE}
    )
    assert [c[0] for c in until] == [T0 + 9 * MINUTE, T0 + 10 * MINUTE]


async def test_coarser_interval_is_aggregated_from_stored_minutes(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_candles("ETH/USDT", "1m", minute_candles(10))
    five = await exchange.fetch_ohlcv("ETH/USDT", "5m", since=T0)
    assert [c[0] for c in five] == [T0, T0 + 5 * MINUTE]
    assert five[0][1:] == [100, 105, 99, 104.5, 1 + 2 + 3 + 1 + 2]
    with pytest.raises(ccxt_async.BadRequest, match="-1120"):
        await exchange.public_get_klines({"symbol": "ETHUSDT", "interval": "7m"})


@pytest.mark.skipif(not DEFAULT_CANDLE_FILE.exists(), reason="shared candle file absent")
async def test_default_btc_series_comes_from_the_real_data_file(
    exchange: ccxt_async.binance,
) -> None:
    rows = load_csv(rows=2)
    candles = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=rows[0].open_time, limit=2)
    assert [c[0] for c in candles] == [r.open_time for r in rows]
    assert candles[0][4] == float(rows[0].close)
    hourly = await exchange.fetch_ohlcv("BTC/USDT", "1h", since=rows[0].open_time, limit=1)
    expected = aggregate(load_csv(rows=60), 3_600_000)[0]
    assert hourly[0][2] == float(expected.high)


async def test_server_time_and_ping(sim: BinanceSimulator, exchange: ccxt_async.binance) -> None:
    sim.set_clock_offset(-30_000)
    server_time = await exchange.fetch_time()
    assert abs(server_time - (exchange.milliseconds() - 30_000)) < 2_000
    assert await exchange.public_get_ping() == {}
