"""First-start demo for ``autogrid dev``: real sample candles and a demo user to log in with.

Development only. The demo password is generated once and kept under the var directory (0600),
so every start can print the same login.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select

from autogrid.auth import service as auth_service
from autogrid.bots import controls as bot_controls
from autogrid.bots import service as bots_service
from autogrid.bots.schemas import BotCreate
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.demo import DEMO_EXCHANGE, DEMO_SYMBOL, DEMO_TIMEFRAME, import_demo_candles
from autogrid.exchanges.paper.markets import builtin_markets
from autogrid.exchanges.types import MarketRules
from autogrid.models import Role, User

DEMO_EMAIL = "demo@example.com"
LOGIN_FILE = "demo-login.json"


# A paper grid replaying the shipped candles at 30x: a candle every two seconds, so a newcomer
# sees its ladder trade within minutes, with no network at all, and the 30 days last 24 hours
# (then the bot stops itself with a `replay_finished` event).
DEMO_BOT: dict[str, Any] = {
    "name": "demo grid (paper replay)",
    "type": "grid",
    "exchange": DEMO_EXCHANGE,
    "symbol": DEMO_SYMBOL,
    "mode": "paper",
    "paper": {
        "price_source": "replay",
        "timeframe": DEMO_TIMEFRAME,
        "start": "2025-05-20T00:00:00Z",
        "speed": 30,
        "balances": {"USDT": "10000"},
    },
    "config": {
        "lower_price": "103000",
        "upper_price": "112000",
        "grid_count": 30,
        "spacing": "arithmetic",
        "investment": "5000",
        "direction": "long",
    },
}
_BOT_BODY: TypeAdapter[BotCreate] = TypeAdapter(BotCreate)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    candles_imported: int
    email: str
    password: str | None  # None when the user exists but its saved password was removed
    bot_id: uuid.UUID | None = None  # the demo bot, when this start created it


def _saved_password(var_dir: Path) -> str | None:
    path = var_dir / LOGIN_FILE
    if not path.exists():
        return None
    saved: dict[str, str] = json.loads(path.read_text())
    return saved.get("password")


def _save_password(var_dir: Path, password: str) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(var_dir / LOGIN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps({"email": DEMO_EMAIL, "password": password}))


async def _offline_rules(exchange: str, symbol: str) -> MarketRules:
    return builtin_markets(exchange)[symbol]


async def seed_demo(settings: Settings) -> DemoSeed:
    """Import the sample candles and make sure the demo user exists (both idempotent)."""
    if settings.is_production:
        raise RuntimeError("the demo seed is for development only")
    database = Database.from_settings(settings, pooled=False)
    try:
        imported = await import_demo_candles(database)
        async with database.session_scope() as session:
            existing = await session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
            if existing is not None:
                return DemoSeed(imported, DEMO_EMAIL, _saved_password(settings.var_dir))
            password = secrets.token_urlsafe(12)
            user = await auth_service.register_user(session, DEMO_EMAIL, password, role=Role.USER)
            bot = await bots_service.create_bot(
                session, user, _BOT_BODY.validate_python(DEMO_BOT), _offline_rules
            )
            # Beat's claim picks up a starting bot by itself: no task needs sending from here.
            await bot_controls.start_bot(session, user, bot.id)
        _save_password(settings.var_dir, password)
        return DemoSeed(imported, DEMO_EMAIL, password, bot.id)
    finally:
        await database.dispose()
