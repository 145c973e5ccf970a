"""Shared fixtures: real PostgreSQL and Redis, the app, an HTTP client, a clean slate per test."""

from __future__ import annotations

import copy
import gc
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from argon2 import PasswordHasher, Type
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from autogrid.app import create_app
from autogrid.auth import passwords
from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings, load_settings, new_encryption_key
from autogrid.core.db import Database
from autogrid.market_data.repository import forget_server_casts
from tests.helpers import (
    ApiUser,
    AppFactory,
    ClientFactory,
    make_admin,
    register_user,
    unique_email,
)
from tests.infra import (
    LIFESPAN_TIMEOUTS,
    empty_all_tables,
    migrated_database,
    redis_or_fail,
    release_finished_apps,
    run_alembic,
)
from tests.network_guard import refuse_outside_connections

TEST_JWT_SECRET = "test-jwt-secret-" + "x7Qp2LmZ9vKc4RtY8wNb3HdF6sJg1aUe"
UNTHROTTLED_API = {
    "rate_limit_api_default": "1000000/minute",
    "rate_limit_api_plans": {},
    "rate_limit_api_admin": "1000000/minute",
    "rate_limit_api_anonymous": "1000000/minute",
    "signal_rate_limit": "1000000/minute",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with ``slow`` tests run first, each module's tests still together and in order.

    Under ``--dist worksteal`` each xdist process starts on a contiguous half of this order and an
    idle one takes the second half of the other's remaining queue, except its last two tests. In
    the directory order, the worker processes' end-to-end tests (tests/worker) came last, so a
    run could end with one process on two of them (20-40 s each on a loaded machine) and the
    other idle. Slow first, the queues end on short tests, which balance to the last second.
    """
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)


@pytest.fixture(scope="session", autouse=True)
def _no_outside_network() -> Iterator[None]:
    """Tests talk to loopback only: a name or address outside it fails at once, loudly."""
    with refuse_outside_connections():
        yield


@pytest.fixture(autouse=True)
def _release_finished_apps() -> Iterator[None]:
    """No app outlives its test (see ``tests.infra.release_finished_apps``)."""
    yield
    release_finished_apps()


@pytest.fixture(autouse=True)
def _fast_candle_reads_first() -> None:
    """Each test reads candles as a new process does: the fast way first, whatever series an
    earlier test left to the server's cast (``market_data.repository``)."""
    forget_server_casts()


# Argon2id at the least work and memory it allows (argon2's own "cheapest" profile, with the
# usual salt and hash lengths): a registration and a login then cost microseconds instead of two
# OWASP hashes (~50 ms of CPU each, seconds on a busy machine) for each of the hundreds of users
# the tests register. The tests of hashing itself use the app's parameters
# (``production_password_hashing``).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Starts from an unfrozen heap (tests of what freezes it) and gives the test process its
    collector back afterwards."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    production = passwords.replace_hasher(CHEAP_HASHER)
    yield
    passwords.replace_hasher(production)


@pytest.fixture
def production_password_hashing(_cheap_password_hashing: None) -> Iterator[None]:
    """The app's own Argon2id parameters (OWASP's), for the tests of hashing and rehashing."""
    passwords.replace_hasher(passwords.OWASP_HASHER)
    try:
        yield
    finally:
        passwords.replace_hasher(CHEAP_HASHER)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database private to this test session."""
    with migrated_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return redis_or_fail()


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"agtest:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def settings(pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> Settings:
    return load_settings(
        environment="development",
        database_url=pg_url,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
        jwt_secret=TEST_JWT_SECRET,
        encryption_keys=[new_encryption_key()],
        var_dir=tmp_path / "var",
        log_json=False,
        # Tests drive many requests from one address and user; the limiter still counts each one
        # (tests/api/test_rate_limits.py sets small budgets to test refusals).
        **UNTHROTTLED_API,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings)
    try:
        yield database
    finally:
        await empty_all_tables(database)
        await database.dispose()
        _flush_prefix(settings)


def _flush_prefix(settings: Settings) -> None:
    if not settings.redis_url:
        return
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=settings.redis_key_prefix + "*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        # Bot validation must not reach a real exchange from tests: offline rules unless a test
        # installs its own provider (e.g. one pointed at the exchange simulator).
        application.state.market_rules_provider = conservative_market_rules
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def make_app(settings: Settings, db: Database) -> AsyncIterator[AppFactory]:
    """``await make_app(**setting_overrides)`` starts another app on the same test database."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> FastAPI:
            application = create_app(settings.model_copy(update=overrides))
            await stack.enter_async_context(LifespanManager(application, **LIFESPAN_TIMEOUTS))
            return application

        yield start


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """``make_client(app, ip="10.0.0.1")``: a client whose requests come from ``ip``."""
    clients: list[httpx.AsyncClient] = []

    def build(application: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application, client=(ip, 50_000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(http)
        return http

    yield build
    for http in clients:
        await http.aclose()


# --- Users: registered and logged in through the real API (see tests/helpers.py) ---


@pytest.fixture
async def user(client: httpx.AsyncClient) -> ApiUser:
    return await register_user(client, unique_email("user"))


@pytest.fixture
async def other_user(client: httpx.AsyncClient) -> ApiUser:
    return await register_user(client, unique_email("other"))


@pytest.fixture
async def admin_user(client: httpx.AsyncClient, db: Database) -> ApiUser:
    return await make_admin(db, await register_user(client, unique_email("admin")))


@pytest.fixture(scope="session")
def _openapi_document() -> dict[str, Any]:
    # The document is the routes' alone (no setting changes it), and generating it takes
    # seconds on a busy machine: once per test process.
    return create_app(Settings(environment="development", jwt_secret=TEST_JWT_SECRET)).openapi()


@pytest.fixture
def openapi_schema(_openapi_document: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI document (as ``create_app(settings).openapi()`` builds it), a copy
    each test may change."""
    return copy.deepcopy(_openapi_document)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test copies it, which is much faster than migrating."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    run_alembic(f"sqlite+aiosqlite:///{path}", "upgrade", "head")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "autogrid.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database in turn, as a URL: for tests that open (and close) ``Database`` instances
    of their own. PostgreSQL's is the test database (``db``'s teardown empties its tables)."""
    if request.param == "postgresql":
        request.getfixturevalue("db")
        url: str = request.getfixturevalue("settings").database_url
        return url
    url = request.getfixturevalue("sqlite_url")
    return url


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database.from_settings(Settings(database_url=sqlite_url))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest) -> Database:
    """The same test on PostgreSQL (the ``db`` fixture, truncated after) and on SQLite."""
    fixture = "db" if request.param == "postgresql" else "sqlite_db"
    result: Database = request.getfixturevalue(fixture)
    return result
