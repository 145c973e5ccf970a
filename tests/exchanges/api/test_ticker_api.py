"""GET /exchanges/{id}/ticker: the symbol is checked against the exchange's markets first."""

from __future__ import annotations

import httpx

from tests.exchange_sim import BinanceSimulator
from tests.exchanges.api.conftest import exchange_requests
from tests.helpers import ApiUser, assert_error_shape

TICKER = "/api/v1/exchanges/binance/ticker"
TICKER_PATHS = ("/api/v3/ticker/24hr", "/api/v3/ticker", "/api/v3/ticker/price")


async def test_the_ticker_of_a_market(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    sim.set_price("BTC/USDT", "104321.5")

    response = await api.get(TICKER, params={"symbol": "btc/usdt"}, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["exchange"] == "binance" and body["symbol"] == "BTC/USDT"
    assert body["last"] == "104321.5"
    assert body["bid"] == "104321.49" and body["ask"] == "104321.51"
    assert body["ts"].startswith("20")
    assert len(exchange_requests(sim, *TICKER_PATHS)) == 1


async def test_a_ticker_is_never_cached(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    prices = []
    for price in ("100", "101"):
        sim.set_price("ETH/USDT", price)
        response = await api.get(TICKER, params={"symbol": "ETH/USDT"}, headers=user.headers)
        prices.append(response.json()["last"])

    assert prices == ["100", "101"]
    assert len(exchange_requests(sim, "/api/v3/exchangeInfo")) == 1  # markets: cached


async def test_an_unlisted_symbol_is_a_404_without_asking_for_a_ticker(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    response = await api.get(TICKER, params={"symbol": "DOGE/USDT"}, headers=user.headers)

    assert_error_shape(response, 404, "unknown_symbol")
    assert response.json()["error"]["details"] == {"exchange": "binance", "symbol": "DOGE/USDT"}
    assert exchange_requests(sim, *TICKER_PATHS) == []


async def test_bad_symbols_and_extra_parameters_are_422s(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    for params in (
        {"symbol": "BTCUSDT"},
        {"symbol": "BTC/USDT:USDT"},
        {"symbol": "../../etc/passwd"},
        {},
        {"symbol": "BTC/USDT", "proxy": "http://127.0.0.1:9"},
        {"symbol": "BTC/USDT", "options": "{}"},
    ):
        response = await api.get(TICKER, params=params, headers=user.headers)
        assert_error_shape(response, 422, "validation_error")
    assert sim.requests == []


async def test_unknown_exchange_and_no_login(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    unknown = await api.get(
        "/api/v1/exchanges/notanexchange/ticker",
        params={"symbol": "BTC/USDT"},
        headers=user.headers,
    )
    anonymous = await api.get(TICKER, params={"symbol": "BTC/USDT"})
    bad_token = await api.get(
        TICKER, params={"symbol": "BTC/USDT"}, headers={"Authorization": "Bearer nope"}
    )

    assert_error_shape(unknown, 404, "unknown_exchange")
    assert_error_shape(anonymous, 401, "unauthorized")
    assert_error_shape(bad_token, 401)
    assert sim.requests == []


async def test_an_exchange_outage_is_a_503_never_a_500(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    await api.get("/api/v1/exchanges/binance/markets", headers=user.headers)  # markets cached
    sim.inject_fault("http_error", "*", times=None, status=503)

    response = await api.get(TICKER, params={"symbol": "BTC/USDT"}, headers=user.headers)

    assert_error_shape(response, 503, "exchange_unavailable")
    assert "Retry-After" not in response.headers  # a bare 503 says nothing about when


async def test_an_exchange_timeout_is_a_503(
    api: httpx.AsyncClient, user: ApiUser, sim: BinanceSimulator
) -> None:
    await api.get("/api/v1/exchanges/binance/markets", headers=user.headers)
    sim.inject_fault("delay", "*", times=None, seconds=0.6)  # beyond the 400 ms client timeout

    response = await api.get(TICKER, params={"symbol": "BTC/USDT"}, headers=user.headers)

    assert_error_shape(response, 503, "exchange_unavailable")
