"""Paper exchange fixtures: the same tests on PostgreSQL (``db``) and on a migrated SQLite file."""

from __future__ import annotations

import pytest

from tests.exchanges.paper.helpers import WallClock


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A URL, for tests that open (and close) several ``Database`` instances on one database."""
    if request.param == "postgresql":
        request.getfixturevalue("db")  # its teardown empties the tables
        url: str = request.getfixturevalue("settings").database_url
        return url
    url = request.getfixturevalue("sqlite_url")
    return url
