"""Login throttling slows an attacker without locking the owner out, on Redis and in memory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from autogrid.auth.login_guard import (
    FREE_FAILURES,
    KNOWN_ADDRESSES_PER_ACCOUNT,
    MAX_DELAY_SECONDS,
    InMemoryLoginMemory,
    LoginGuard,
    LoginMemory,
    RedisLoginMemory,
    client_network,
    delay_after,
)
from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable
from autogrid.core.ratelimit import create_rate_limiter
from tests.helpers import (
    ApiUser,
    AppFactory,
    ClientFactory,
    assert_error_shape,
    login,
    register_user,
)

ATTACKER = "203.0.113.66"
OWNER_HOME = "198.51.100.20"


async def app_on(make_app: AppFactory, backend: str, **overrides: object) -> object:
    if backend == "memory":
        overrides["redis_url"] = None
    return await make_app(**overrides)


async def owner_at_home(application: object, make_client: ClientFactory) -> ApiUser:
    """Registered and logged in once from home, so home is a known address of the account."""
    return await register_user(make_client(application, ip=OWNER_HOME))


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_an_attacker_cannot_lock_the_owner_out(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(
        make_app,
        backend,
        rate_limit_login_per_minute=5,
        rate_limit_login_per_account_per_hour=5,
        rate_limit_register_per_hour=100,
    )
    owner = await owner_at_home(application, make_client)
    attacker = make_client(application, ip=ATTACKER)
    statuses = [
        (await login(attacker, owner.email, f"guess-{number}")).status_code for number in range(8)
    ]
    assert statuses[:FREE_FAILURES] == [401] * FREE_FAILURES
    assert statuses[-1] == 429, statuses
    # Spread over many addresses, the guesses spend the account's budget for unknown addresses.
    for number in range(8):
        botnet = make_client(application, ip=f"192.0.2.{number + 1}")
        await login(botnet, owner.email, f"spread-{number}")
    stranger = make_client(application, ip="192.0.2.200")
    assert (await login(stranger, owner.email, owner.password)).status_code == 429
    # The owner, from the address they logged in from before, still gets in, again and again.
    home = make_client(application, ip=OWNER_HOME)
    for _ in range(3):
        assert (await login(home, owner.email, owner.password)).status_code == 200


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_the_attacker_is_throttled_with_retry_after(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(make_app, backend)
    owner = await owner_at_home(application, make_client)
    attacker = make_client(application, ip=ATTACKER)
    refused: httpx.Response | None = None
    for number in range(12):
        response = await login(attacker, owner.email, f"guess-{number}")
        if response.status_code == 429:
            refused = response
            break
        assert response.status_code == 401
    assert refused is not None, "twelve wrong passwords in a row were never slowed down"
    assert_error_shape(refused, 429, "rate_limited")
    retry_after = int(refused.headers["retry-after"])
    assert retry_after >= 1
    assert refused.json()["error"]["details"] == {"retry_after": retry_after}
    # Even the right password waits at the attacker's address: it is the guessing pair.
    assert (await login(attacker, owner.email, owner.password)).status_code == 429


def test_delays_grow_progressively_up_to_a_cap() -> None:
    delays = [delay_after(failures) for failures in range(1, 20)]
    assert delays[:FREE_FAILURES] == [0] * FREE_FAILURES
    assert delays[FREE_FAILURES : FREE_FAILURES + 4] == [1, 2, 4, 8]
    assert delays == sorted(delays)
    assert delays[-1] == MAX_DELAY_SECONDS


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        async for name in client.scan_iter(match=settings.redis_key_prefix + "login:*"):
            await client.delete(name)
        await client.aclose()


@pytest.fixture(params=["redis", "memory"])
def memory(request: pytest.FixtureRequest, settings: Settings) -> LoginMemory:
    if request.param == "memory":
        return InMemoryLoginMemory()
    client: Redis = request.getfixturevalue("redis_client")
    return RedisLoginMemory(settings, client)


async def test_failures_of_a_pair_escalate_and_a_success_clears_them(memory: LoginMemory) -> None:
    pair, other = uuid.uuid4().hex, uuid.uuid4().hex
    delays = [await memory.record_failure(pair) for _ in range(FREE_FAILURES + 7)]
    assert delays == [delay_after(n) for n in range(1, FREE_FAILURES + 8)]
    assert 1 <= await memory.pair_wait(pair) <= delays[-1]
    assert await memory.pair_wait(other) == 0
    await memory.clear_pair(pair)
    assert await memory.pair_wait(pair) == 0
    assert await memory.record_failure(pair) == 0


async def test_known_addresses_are_per_account_and_bounded(memory: LoginMemory) -> None:
    account, other_account = uuid.uuid4().hex, uuid.uuid4().hex
    await memory.remember(account, "first")
    for number in range(KNOWN_ADDRESSES_PER_ACCOUNT):
        await memory.remember(account, f"address-{number}")
    assert not await memory.is_known(account, "first")  # the oldest gave way
    assert await memory.is_known(account, f"address-{KNOWN_ADDRESSES_PER_ACCOUNT - 1}")
    assert not await memory.is_known(other_account, "address-0")


async def test_addresses_of_one_ipv6_network_share_a_budget(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    application = await make_app(rate_limit_login_per_minute=3)
    owner = await owner_at_home(application, make_client)
    for number in range(3):
        hopping = make_client(application, ip=f"2001:db8:1:2::{number + 1}")
        assert (await login(hopping, f"x{number}@example.com", "guess")).status_code == 401
    same_network = make_client(application, ip="2001:db8:1:2:ffff::9")
    assert (await login(same_network, owner.email, "guess")).status_code == 429
    elsewhere = make_client(application, ip="2001:db8:1:3::1")
    assert (await login(elsewhere, owner.email, owner.password)).status_code == 200


def test_client_network() -> None:
    assert client_network("203.0.113.7") == "203.0.113.7"
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_network("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_network("unknown") == "unknown"


@pytest.mark.parametrize("down", ["windows", "memory"])
async def test_a_redis_outage_refuses_logins_rather_than_unthrottle_them(
    settings: Settings, down: str
) -> None:
    """Failing closed is deliberate: during an outage guessing would be unlimited otherwise."""
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = create_rate_limiter(settings, unreachable if down == "windows" else None)
    memory: LoginMemory = (
        RedisLoginMemory(settings, unreachable) if down == "memory" else InMemoryLoginMemory()
    )
    guard = LoginGuard(settings, limiter, memory)
    try:
        with pytest.raises(ServiceUnavailable):
            await guard.admit(ATTACKER, "owner@example.com")
    finally:
        await unreachable.aclose()
