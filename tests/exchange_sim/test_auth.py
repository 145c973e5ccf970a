"""API keys, HMAC signatures, timestamps and key permissions, as Binance checks them."""

from __future__ import annotations

import time

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceSimulator, make_ccxt_binance
from tests.exchange_sim.auth import sign

BTC = "BTC/USDT"


async def raw_request(
    sim: BinanceSimulator,
    method: str,
    path: str,
    query: str = "",
    body: str = "",
    api_key: str | None = DEFAULT_API_KEY,
) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if api_key is not None:
        headers["X-MBX-APIKEY"] = api_key
    url = sim.url + path + (f"?{query}" if query else "")
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body or None, headers=headers) as response,
    ):
        return response.status, await response.json()


def now() -> int:
    return int(time.time() * 1000)


async def test_signature_covers_query_then_body_exactly_as_sent(sim: BinanceSimulator) -> None:
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.001&price=90000&timestamp={now()}"
    good = sign(DEFAULT_SECRET, query + body)
    status, answer = await raw_request(
        sim, "POST", "/api/v3/order", query, f"{body}&signature={good}"
    )
    assert status == 200 and answer["status"] == "NEW"
    joined_with_ampersand = sign(DEFAULT_SECRET, query + "&" + body)
    status, answer = await raw_request(
        sim, "POST", "/api/v3/order", query, f"{body}&signature={joined_with_ampersand}"
    )
    assert (status, answer["code"]) == (400, -1022)
    assert len(sim.orders()) == 1


async def test_missing_key_header_timestamp_or_signature(sim: BinanceSimulator) -> None:
    query = f"timestamp={now()}"
    signed = f"{query}&signature={sign(DEFAULT_SECRET, query)}"
    assert (await raw_request(sim, "GET", "/api/v3/account", signed))[0] == 200
    status, answer = await raw_request(sim, "GET", "/api/v3/account", signed, api_key=None)
    assert (status, answer["code"]) == (401, -2014)
    status, answer = await raw_request(sim, "GET", "/api/v3/account", query)
    assert (status, answer["code"]) == (400, -1102)
    assert "signature" in str(answer["msg"])
    unsigned_time = f"recvWindow=5000&signature={sign(DEFAULT_SECRET, 'recvWindow=5000')}"
    status, answer = await raw_request(sim, "GET", "/api/v3/account", unsigned_time)
    assert (status, answer["code"]) == (400, -1102)


async def test_unknown_key_and_wrong_secret_are_authentication_errors(
    sim: BinanceSimulator,
) -> None:
    for key, secret, code in [("nobody", "x", -2015), (DEFAULT_API_KEY, "wrong-secret", -1022)]:
        client = make_ccxt_binance(sim.url, key, secret)
        try:
            with pytest.raises(ccxt_async.AuthenticationError, match=str(code)):
                await client.fetch_balance()
        finally:
            await client.close()
    assert [(r.status, r.code) for r in sim.request_log(path="/api/v3/account")] == [
        (401, -2015),
        (400, -1022),
    ]


async def test_client_clock_ahead_or_behind_is_invalid_nonce(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_clock_offset(-500)  # client 500 ms ahead: tolerated (< 1000 ms)
    await exchange.fetch_balance()
    sim.set_clock_offset(-1500)
    with pytest.raises(ccxt_async.InvalidNonce, match="ahead of the server"):
        await exchange.fetch_balance()
    # ccxt sends recvWindow=10000 by default, so a client 7 s behind still passes...
    sim.set_clock_offset(7000)
    assert sim.request_log()[-1].params["recvWindow"] == "10000"
    await exchange.fetch_balance()
    # ...but not with a 5000 ms window, Binance's own default.
    strict = make_ccxt_binance(sim.url, recvWindow=5000)
    try:
        with pytest.raises(ccxt_async.InvalidNonce, match="outside of the recvWindow"):
            await strict.fetch_balance()
    finally:
        await strict.close()


async def test_recv_window_above_sixty_seconds_is_refused(sim: BinanceSimulator) -> None:
    client = make_ccxt_binance(sim.url, recvWindow=70000)
    try:
        # Real Binance URLs map -1131 to BadRequest; on a non-binance.com URL ccxt skips its
        # spot-specific table, so here it is the generic ExchangeError.
        with pytest.raises(ccxt_async.ExchangeError, match="-1131"):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_key_without_trading_permission_can_read_but_not_trade(
    sim: BinanceSimulator,
) -> None:
    sim.set_permissions(DEFAULT_API_KEY, enable_spot_and_margin_trading=False)
    client = make_ccxt_binance(sim.url)
    try:
        await client.load_markets()
        with pytest.raises(ccxt_async.AuthenticationError, match="-2015"):
            await client.create_order(BTC, "market", "buy", 0.001)
        await client.fetch_balance()
        # ccxt quirk: once a private call has succeeded it reads -2015 as a temporary ban.
        with pytest.raises(ccxt_async.DDoSProtection, match="-2015"):
            await client.create_order(BTC, "market", "buy", 0.001)
    finally:
        await client.close()
    assert sim.orders() == []


async def test_ip_restricted_key_is_refused_from_another_address(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_permissions(DEFAULT_API_KEY, ip_restrict=True, allowed_ips=["10.1.2.3"])
    with pytest.raises(ccxt_async.AuthenticationError, match="-2015"):
        await exchange.fetch_open_orders(BTC)
    sim.set_permissions(DEFAULT_API_KEY, allowed_ips=["127.0.0.1"])
    assert await exchange.fetch_open_orders(BTC) == []


async def test_api_restrictions_report_withdrawal_permission(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    restrictions = await exchange.sapi_get_account_apirestrictions()
    assert restrictions["enableWithdrawals"] is False
    assert restrictions["enableSpotAndMarginTrading"] is True
    assert restrictions["ipRestrict"] is False
    assert sim.requests[-1].path == "/sapi/v1/account/apiRestrictions"
    sim.add_account("withdraw-key", "s3cret", permissions={"enableWithdrawals": True})
    risky = make_ccxt_binance(sim.url, "withdraw-key", "s3cret")
    try:
        assert (await risky.sapi_get_account_apirestrictions())["enableWithdrawals"] is True
    finally:
        await risky.close()


async def test_account_balances_and_omit_zero(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.set_balances(DEFAULT_API_KEY, {"ETH": 0, "BTC": "0.5"})
    balance = await exchange.fetch_balance()
    assert balance["BTC"]["free"] == 0.5 and balance["USDT"]["total"] == 10000
    assert balance["info"]["canTrade"] is True
    nonzero = await exchange.private_get_account({"omitZeroBalances": "true"})
    assert {b["asset"] for b in nonzero["balances"]} == {"BTC", "USDT"}
