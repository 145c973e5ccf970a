"""GET /exchanges and /exchanges/{id}: the static catalog, public, with ccxt's capabilities."""

from __future__ import annotations

import ccxt
import httpx

from autogrid.exchanges.catalog import CAPABILITY_NAMES
from tests.helpers import assert_error_shape

OFFERED = {"bybit", "okx", "kraken", "kucoin", "mexc", "gate", "coinbase"}


async def test_every_ccxt_exchange_is_listed_with_capabilities_without_logging_in(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/exchanges")  # no Authorization header: public

    assert response.status_code == 200, response.text
    body = response.json()
    ids = [item["id"] for item in body["items"]]
    assert ids == sorted(ccxt.exchanges)
    assert body["total"] == len(ids) > 100
    for item in body["items"]:
        assert set(item["capabilities"]) == set(CAPABILITY_NAMES)
    binance = next(item for item in body["items"] if item["id"] == "binance")
    assert binance["name"] == "Binance"
    assert binance["trading"] == "supported" and binance["can_trade"] is True
    assert binance["sandbox"] is True
    assert all(binance["capabilities"].values())  # fetchOHLCV, createOrder, fetchMyTrades, ...


async def test_trading_levels_and_the_filter(client: httpx.AsyncClient) -> None:
    levels = {}
    for level in ("supported", "offered", "market_data"):
        response = await client.get("/api/v1/exchanges", params={"trading": level})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert all(item["trading"] == level for item in items)
        assert all(item["can_trade"] is (level != "market_data") for item in items)
        levels[level] = {item["id"] for item in items}

    assert levels["supported"] == {"binance"}
    assert levels["offered"] == OFFERED
    assert levels["market_data"] == set(ccxt.exchanges) - OFFERED - {"binance"}
    assert "bitstamp" in levels["market_data"]


async def test_a_bad_filter_or_an_unknown_parameter_is_a_422(client: httpx.AsyncClient) -> None:
    bad_level = await client.get("/api/v1/exchanges", params={"trading": "maybe"})
    unknown = await client.get("/api/v1/exchanges", params={"proxy": "http://evil.example"})

    assert_error_shape(bad_level, 422, "validation_error")
    assert_error_shape(unknown, 422, "validation_error")
    assert unknown.json()["error"]["details"][0]["loc"] == ["query", "proxy"]


async def test_one_exchange_by_id_or_alias(client: httpx.AsyncClient) -> None:
    binance = await client.get("/api/v1/exchanges/binance")
    gate = await client.get("/api/v1/exchanges/gateio")  # Gate.io's old ccxt id
    upper = await client.get("/api/v1/exchanges/KRAKEN")

    assert binance.status_code == 200, binance.text
    assert binance.json()["id"] == "binance" and binance.json()["trading"] == "supported"
    assert gate.status_code == 200 and gate.json()["id"] == "gate"
    assert gate.json()["trading"] == "offered"
    assert upper.status_code == 200 and upper.json()["id"] == "kraken"


async def test_an_unknown_exchange_is_a_404(client: httpx.AsyncClient) -> None:
    for exchange_id in ("nope", "binance.com", "127.0.0.1:8080"):
        response = await client.get(f"/api/v1/exchanges/{exchange_id}")
        assert_error_shape(response, 404, "unknown_exchange")
    too_long = await client.get("/api/v1/exchanges/" + "x" * 65)
    assert_error_shape(too_long, 422, "validation_error")
