"""Bot bodies the tests start from: valid as they are, changed one field at a time."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx

from autogrid.core.db import Database
from autogrid.models import ExchangeCredential
from tests.helpers import ApiUser

BOTS = "/api/v1/bots"

GRID_BODY: dict[str, Any] = {
    "name": "btc grid",
    "type": "grid",
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "mode": "paper",
    "paper": {
        "price_source": "replay",
        "timeframe": "1m",
        "start": "2025-05-20T00:00:00Z",
        "speed": 600,
        "balances": {"USDT": "10000"},
    },
    "config": {
        "lower_price": "100000",
        "upper_price": "125000",
        "grid_count": 20,
        "spacing": "arithmetic",
        "investment": "5000",
        "direction": "long",
    },
}

DCA_CONFIG: dict[str, Any] = {
    "base_order_volume": "100",
    "safety_order_volume": "50",
    "safety_order_step_percentage": "1.5",
    "martingale_volume_coefficient": "2",
    "martingale_step_coefficient": "1",
    "max_safety_orders": 3,
    "active_safety_orders_count": 2,
    "take_profit": "2",
}

RSI_CONFIG: dict[str, Any] = {"strategy": "rsi", "timeframe": "1h", "order_quote": "500"}


def grid_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(GRID_BODY)
    body.update(changes)
    return body


def with_config(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["config"].update(changes)
    return body


def dca_body(**config: Any) -> dict[str, Any]:
    return grid_body(name="eth dca", type="dca", config={**DCA_CONFIG, **config})


def indicator_body(**config: Any) -> dict[str, Any]:
    return grid_body(name="rsi", type="indicator", config={**RSI_CONFIG, **config})


async def create_bot(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(BOTS, json=body or grid_body(), headers=user.headers)
    assert response.status_code == 201, response.text
    bot: dict[str, Any] = response.json()
    return bot


async def read_bot(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> dict[str, Any]:
    """The bot's detail, checked equal to its item in the list (the two reads of a bot)."""
    one = await client.get(f"{BOTS}/{bot_id}", headers=user.headers)
    assert one.status_code == 200, one.text
    listed = await client.get(BOTS, headers=user.headers)
    assert [bot for bot in listed.json()["items"] if bot["id"] == bot_id] == [one.json()]
    body: dict[str, Any] = one.json()
    return body


async def add_credential(db: Database, user: ApiUser, exchange: str = "binance") -> uuid.UUID:
    """A stored credential row (the credentials API would verify it with the exchange)."""
    credential = ExchangeCredential(
        id=uuid.uuid4(),
        user_id=user.id,
        exchange=exchange,
        label=f"key-{uuid.uuid4().hex[:6]}",
        api_key_masked="abcd...wxyz",
        api_key_ciphertext=b"x",
        api_secret_ciphertext=b"x",
        key_version=1,
    )
    async with db.session_scope() as session:
        session.add(credential)
    return credential.id


async def set_status(db: Database, bot_id: str, status: str, **fields: Any) -> None:
    """Put a bot in a status only the runtime can reach (running, halted, error...)."""
    from autogrid.models import Bot

    async with db.session_scope() as session:
        bot = await session.get(Bot, uuid.UUID(bot_id))
        assert bot is not None
        bot.status = status
        for name, value in fields.items():
            setattr(bot, name, value)
