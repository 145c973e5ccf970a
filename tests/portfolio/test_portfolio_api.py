"""GET /api/v1/portfolio on a constructed scenario, checked to the cent: a key's balances read
through real ccxt from the simulator, a replaying paper account valued at its own clock, the
bots' P&L from their fills; each user sees only their own; an exchange that fails marks its
account and the overview still answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.core.db import Database
from tests.credentials.conftest import create_credential, new_sim_key
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser, assert_error_shape
from tests.portfolio.scenario import (
    add_booked,
    add_bot,
    add_candle,
    add_fill,
    add_metric,
    add_paper_account,
)

D = Decimal
URL = "/api/v1/portfolio"


def today_start() -> datetime:
    return datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)


def money(value: Any) -> Decimal | None:
    return None if value is None else D(value)


async def live_scenario(
    client: httpx.AsyncClient, db: Database, sim: BinanceSimulator, user: ApiUser
) -> dict[str, Any]:
    """A key holding 1000 USDT, 0.5 BTC and 7 XYZ (no market); a bot on it that bought 0.2 BTC
    two days ago and sold 0.15 today, once at a gain and once at a loss."""
    sim.set_price("BTC/USDT", "60000")
    key = new_sim_key(sim)
    sim.set_balances(key.api_key, {"USDT": "1000", "BTC": "0.5", "XYZ": "7"})
    credential = await create_credential(client, user, key)
    credential_id = uuid.UUID(credential["id"])
    bot_id = await add_bot(db, user.id, credential_id=credential_id, name="grid one")
    earlier = today_start() - timedelta(days=2)
    await add_fill(db, bot_id, user.id, "buy", "0.1", "50000", "5", earlier)
    await add_fill(db, bot_id, user.id, "buy", "0.1", "40000", "4", earlier + timedelta(hours=1))
    # Average cost 45045 (fees in). A gain of 990.00, then a loss of 753.75.
    await add_fill(db, bot_id, user.id, "sell", "0.1", "55000", "5.5", today_start())
    await add_fill(db, bot_id, user.id, "sell", "0.05", "30000", "1.5", today_start())
    await add_booked(db, bot_id, user.id, today_start().date(), "236.25")
    return {"credential_id": credential_id, "bot_id": bot_id}


async def test_a_key_and_its_bot_valued_to_the_cent(
    sim_app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    sim: BinanceSimulator,
    user: ApiUser,
) -> None:
    made = await live_scenario(client, db, sim, user)

    response = await client.get(URL, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    (account,) = body["accounts"]
    assert (account["kind"], account["id"], account["available"]) == (
        "credential",
        str(made["credential_id"]),
        True,
    )
    by_currency = {b["currency"]: b for b in account["balances"]}
    assert money(by_currency["USDT"]["value_usdt"]) == D(1000)
    assert by_currency["USDT"]["price_source"] == "unit"
    btc = by_currency["BTC"]
    assert (money(btc["price_usdt"]), money(btc["value_usdt"])) == (D(60000), D(30000))
    assert btc["price_source"] == "ticker" and btc["priced_at"] is not None
    xyz = by_currency["XYZ"]
    assert money(xyz["total"]) == D(7)
    assert xyz["value_usdt"] is None and "XYZ/USDT" in xyz["reason"]
    assert account["unvalued"] == ["XYZ"]
    assert money(account["value_usdt"]) == D(31000)
    assert (money(body["value_usdt"]), body["complete"]) == (D(31000), False)

    assert account["bots"] == 1
    assert money(account["realized_pnl_usdt"]) == D("236.25")
    assert money(account["realized_pnl_today_usdt"]) == D("236.25")
    # 0.05 BTC left at a cost of 2252.25, worth 3000 at 60000.
    assert money(account["unrealized_pnl_usdt"]) == D("747.75")
    (position,) = account["open_positions"]
    assert position["bot_id"] == str(made["bot_id"]) and position["bot_name"] == "grid one"
    assert (money(position["amount"]), money(position["average_entry"])) == (
        D("0.05"),
        D(45045),
    )
    assert (account["wins"], account["losses"], money(account["win_rate_pct"])) == (1, 1, D(50))
    assert account["trades_today"] == 2
    today = body["today"]
    assert today["day"] == today_start().date().isoformat()
    assert money(today["realized_pnl"]) == D("236.25")  # USDT, as booked
    assert today["unvalued_pnl"] == {}
    assert today["entries"] == 0  # both buys were two days ago
    assert today["open_positions"] == 0  # the bot's own ledger (never run) holds nothing


async def test_a_replaying_paper_account_is_valued_at_its_own_clock(
    sim_app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    sim: BinanceSimulator,
    user: ApiUser,
) -> None:
    clock = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
    await add_candle(db, "ETH/USDT", clock - timedelta(minutes=2), "2500")
    await add_candle(db, "ETH/USDT", clock - timedelta(minutes=1), "2600.10")  # closed at clock
    await add_candle(db, "ETH/USDT", clock, "9999")  # still forming at the account's clock
    account_id = await add_paper_account(
        db, user.id, {"USDT": ("500.5", "0"), "ETH": ("2", "0.5")}, replay_at=clock
    )
    bot_id = await add_bot(db, user.id, mode="paper", paper_account=account_id, symbol="ETH/USDT")
    await add_fill(db, bot_id, user.id, "buy", "0.5", "2400", "1.2", clock, "ETH/USDT")

    body = (await client.get(URL, headers=user.headers)).json()

    (account,) = body["accounts"]
    assert (account["kind"], account["id"]) == ("paper", str(account_id))
    eth = next(b for b in account["balances"] if b["currency"] == "ETH")
    assert (money(eth["free"]), money(eth["locked"]), money(eth["total"])) == (
        D(2),
        D("0.5"),
        D("2.5"),
    )
    assert money(eth["value_usdt"]) == D("6500.25")
    assert eth["price_source"] == "replay_candle"
    assert eth["priced_at"].startswith("2025-05-20T11:59")
    assert money(account["value_usdt"]) == D("7000.75")
    # Bought 0.5 ETH for 1201.2 (fee in): worth 1300.05 at the replay's price.
    assert money(account["unrealized_pnl_usdt"]) == D("98.85")
    assert account["win_rate_pct"] is None and account["trades_today"] == 0
    assert not any("ticker" in r.path for r in sim.requests)  # its own prices, not today's


async def test_each_user_sees_only_their_own_accounts(
    sim_app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    sim: BinanceSimulator,
    user: ApiUser,
    other_user: ApiUser,
) -> None:
    mine = await live_scenario(client, db, sim, user)
    theirs = await add_paper_account(
        db, other_user.id, {"USDT": ("42", "0")}, replay_at=None, label="theirs"
    )
    await add_bot(db, other_user.id, mode="paper", paper_account=theirs, name="their bot")

    my_view = (await client.get(URL, headers=user.headers)).json()
    their_view = (await client.get(URL, headers=other_user.headers)).json()

    assert [a["id"] for a in my_view["accounts"]] == [str(mine["credential_id"])]
    assert [a["id"] for a in their_view["accounts"]] == [str(theirs)]
    assert money(their_view["value_usdt"]) == D(42)
    assert their_view["accounts"][0]["bots"] == 1
    assert money(their_view["today"]["realized_pnl"]) == D(0)


async def test_an_exchange_that_fails_marks_its_account_and_the_rest_answers(
    sim_app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    sim: BinanceSimulator,
    user: ApiUser,
) -> None:
    await live_scenario(client, db, sim, user)
    paper_account = await add_paper_account(db, user.id, {"USDT": ("10", "0")}, replay_at=None)
    await add_bot(db, user.id, mode="paper", paper_account=paper_account, name="paper one")
    await add_candle(db, "BTC/USDT", today_start() - timedelta(hours=1), "58000")
    sim.inject_fault("http_error", "*", times=None, status=503)

    response = await client.get(URL, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    key, paper = body["accounts"]
    assert key["available"] is False and key["error"]
    assert key["balances"] == [] and key["value_usdt"] is None
    # The bot's P&L still comes from our own records; its open position is priced from the
    # stored candle, since the exchange's ticker does not answer.
    assert money(key["realized_pnl_usdt"]) == D("236.25")
    assert money(key["unrealized_pnl_usdt"]) == D("647.75")
    assert paper["available"] is True and money(paper["value_usdt"]) == D(10)
    assert body["complete"] is False and money(body["value_usdt"]) == D(10)


async def test_history_per_day(
    sim_app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    sim: BinanceSimulator,
    user: ApiUser,
    other_user: ApiUser,
) -> None:
    made = await live_scenario(client, db, sim, user)
    start = today_start()
    yesterday = start - timedelta(days=1)
    await add_booked(db, made["bot_id"], user.id, yesterday.date(), "-12.5")
    await add_metric(db, made["bot_id"], yesterday + timedelta(hours=1), "5000", "1")
    await add_metric(db, made["bot_id"], yesterday + timedelta(hours=23), "5100.25", "3")
    await add_metric(db, made["bot_id"], start + timedelta(seconds=1), "5200", "4")

    response = await client.get(f"{URL}/history?days=3", headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["days"] == 3 and body["until"] == start.date().isoformat()
    two_ago, before, today = body["points"]
    assert two_ago["trades"] == 2 and money(two_ago["realized_pnl_usdt"]) == D(0)
    assert two_ago["equity_usdt"] is None and two_ago["bots"] == 0
    assert before["trades"] == 0 and money(before["realized_pnl_usdt"]) == D("-12.5")
    assert (money(before["equity_usdt"]), money(before["unrealized_pnl_usdt"])) == (
        D("5100.25"),
        D(3),
    )
    assert today["trades"] == 2 and money(today["realized_pnl_usdt"]) == D("236.25")
    assert money(today["equity_usdt"]) == D(5200) and today["complete"] is True
    # Another user's history is empty.
    theirs = (await client.get(f"{URL}/history?days=3", headers=other_user.headers)).json()
    assert all(p["trades"] == 0 and p["bots"] == 0 for p in theirs["points"])


@pytest.mark.parametrize("days", ["0", "367", "x"])
async def test_history_refuses_a_bad_range(
    client: httpx.AsyncClient, user: ApiUser, days: str
) -> None:
    assert_error_shape(await client.get(f"{URL}/history?days={days}", headers=user.headers), 422)


async def test_the_portfolio_needs_a_login(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get(URL), 401)
    assert_error_shape(await client.get(f"{URL}/history"), 401)
