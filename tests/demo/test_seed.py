from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from autogrid.auth import service as auth_service
from autogrid.core.config import Environment, load_settings
from autogrid.core.db import Database
from autogrid.demo.seed import DEMO_EMAIL, seed_demo
from autogrid.models import Bot, BotStatus, Candle, User


async def test_seed_imports_candles_and_creates_a_working_login_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    url = sqlite_url
    settings = load_settings(database_url=url, var_dir=tmp_path / "var", environment="development")
    first = await seed_demo(settings)
    second = await seed_demo(settings)
    assert first.candles_imported == 30 * 1440 and second.candles_imported == 0
    assert first.password and second.password == first.password
    assert ((tmp_path / "var" / "demo-login.json").stat().st_mode & 0o777) == 0o600
    database = Database.from_settings(settings)
    try:
        async with database.session_scope() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 1
            assert await session.scalar(select(func.count()).select_from(Candle)) == 30 * 1440
            user = await auth_service.authenticate_password(session, DEMO_EMAIL, first.password)
            assert user.email == DEMO_EMAIL
            bots = (await session.scalars(select(Bot))).all()
            assert [bot.id for bot in bots] == [first.bot_id] and second.bot_id is None
            assert bots[0].user_id == user.id and bots[0].status == BotStatus.STARTING
            assert bots[0].mode == "paper" and bots[0].paper is not None
            assert bots[0].paper["price_source"] == "replay"
    finally:
        await database.dispose()


async def test_seed_refuses_production(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    settings = settings.model_copy(update={"environment": Environment.PRODUCTION})
    with pytest.raises(RuntimeError, match="development only"):
        await seed_demo(settings)
