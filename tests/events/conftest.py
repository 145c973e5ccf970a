"""Events tests create bots through the API: the candles the default replay bot needs are
stored first."""

from __future__ import annotations

import pytest

from autogrid.core.db import Database
from tests.bots.conftest import store_replay_candles


@pytest.fixture(autouse=True)
async def replay_candles(db: Database) -> None:
    await store_replay_candles(db)
