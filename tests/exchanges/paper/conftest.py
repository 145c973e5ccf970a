"""Paper exchange fixtures (``database_url``, each database in turn, is the suite's)."""

from __future__ import annotations

import pytest

from tests.exchanges.paper.helpers import WallClock


@pytest.fixture
def wall() -> WallClock:
    return WallClock()
