"""Concurrent hits of the moving window share pipelined round trips on a reserved connection
(``PipelinedScript``), against the real Redis: each hit still gets its own exact verdict, an
error reply fails its own call only, and a SCRIPT FLUSH, a dropped connection (a restart) or an
outage behave as through redis-py's client alone.

A restart and an outage are made with a relay in front of Redis that drops every connection or
stops listening. The module runs on a Redis server of its own: its SCRIPT FLUSHes empty a whole
server's script cache, which would make the tests running beside it on the shared Redis see
NOSCRIPT (and these tests count exactly which calls went through redis-py).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from limits import parse
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from autogrid.api.rate_limits import (
    OUTAGE_RECHECK_SECONDS,
    ApiRateLimiter,
    ApiRateLimits,
    Caller,
)
from autogrid.core.config import Settings
from autogrid.core.moving_window import RedisMovingWindow, WindowHit, WindowUnavailable
from autogrid.core.redis import PipelinedScript
from autogrid.core.redis import key as redis_key
from tests.tcp_relay import TcpRelay
from tests.worker.processes import free_port, wait_until


@pytest.fixture(scope="module")
def own_redis() -> Iterator[str]:
    """A Redis server for this module alone (no persistence), its URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    probe = SyncRedis.from_url(url, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(probe.ping())
        except RedisError:
            return False

    try:
        assert wait_until(answers, timeout=60), "the module's Redis server did not start"
        yield url
    finally:
        probe.close()
        server.terminate()
        server.wait(timeout=60)


class RedisRelay(TcpRelay):
    """The relay (``TcpRelay``) in front of the test Redis."""

    def __init__(self, redis_url: str) -> None:
        upstream = Redis.from_url(redis_url).connection_pool.connection_kwargs
        super().__init__((str(upstream.get("host", "127.0.0.1")), int(upstream.get("port", 6379))))

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
async def redis_client(settings: Settings, own_redis: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(own_redis)
    try:
        yield client
    finally:
        async for name in client.scan_iter(match=redis_key(settings, "lane-test", "*")):
            await client.delete(name)
        await client.aclose()


@pytest.fixture
async def relay(own_redis: str) -> AsyncIterator[RedisRelay]:
    relay = RedisRelay(own_redis)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


@pytest.fixture
async def relayed_client(relay: RedisRelay) -> AsyncIterator[Redis]:
    client = Redis.from_url(relay.url(), socket_timeout=5, socket_connect_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


def window_on(client: Redis, settings: Settings) -> RedisMovingWindow:
    return RedisMovingWindow(client, redis_key(settings, "lane-test"))


def lane(window: RedisMovingWindow) -> PipelinedScript:
    script = window._script
    assert isinstance(script, PipelinedScript)
    return script


async def warmed(
    client: Redis, settings: Settings
) -> tuple[RedisMovingWindow, PipelinedScript, int]:
    """A window whose script is loaded and connection reserved (one hit made), its lane and the
    lane's round trips so far."""
    window = window_on(client, settings)
    await window.hit(fresh_key(), 1, 60)
    script = lane(window)
    return window, script, script.round_trips


def fresh_key() -> str:
    return f"k:{uuid.uuid4().hex}"


async def hits(window: RedisMovingWindow, keys: list[str], limit: int) -> list[WindowHit]:
    return list(await asyncio.gather(*(window.hit(key, limit, 60) for key in keys)))


def assert_exact(results: list[WindowHit], limit: int) -> None:
    """``limit`` allowed, each told its own place in the window; the rest refused."""
    allowed = [result for result in results if result.allowed]
    assert sorted(result.remaining for result in allowed) == list(range(limit))
    assert len({result.recorded.id for result in allowed if result.recorded}) == limit
    assert all(r.remaining == 0 and r.recorded is None for r in results if not r.allowed)


async def test_concurrent_hits_share_round_trips_and_each_gets_its_own_verdict(
    redis_client: Redis, settings: Settings
) -> None:
    window, script, trips = await warmed(redis_client, settings)
    keys = [fresh_key() for _ in range(4)]
    plan = [keys[number % 4] for number in range(240)]
    results = await hits(window, plan, limit=5)
    for key in keys:
        mine = [result for wanted, result in zip(plan, results, strict=True) if wanted == key]
        assert_exact(mine, 5)
        # What each allowed hit was told is what Redis holds: its own id, in its own window.
        recorded = [result.recorded for result in mine if result.recorded]
        stored = await redis_client.zrange(recorded[0].key, 0, -1)
        assert {str(member, "ascii") for member in stored if isinstance(member, bytes)} == {
            hit.id for hit in recorded
        }
        assert len(stored) == len(recorded)
    assert script.by_client == 0  # every reply came off the reserved connection
    # The first hit went at once, alone; the other 239 were made meanwhile and went together.
    assert script.round_trips == trips + 2
    # A lone hit goes on its own.
    before = script.round_trips
    assert (await window.hit(fresh_key(), 1, 60)).allowed
    assert script.round_trips == before + 1


async def wait_for_round_trips(script: PipelinedScript, count: int) -> None:
    while script.round_trips < count:
        await asyncio.sleep(0)


async def test_callers_cancelled_in_flight_or_in_the_queue_leave_the_others_intact(
    redis_client: Redis, settings: Settings
) -> None:
    window, script, trips = await warmed(redis_client, settings)
    key = fresh_key()
    tasks = [asyncio.create_task(window.hit(key, 10, 60)) for _ in range(6)]
    # The first hit is in flight and the five others queued: cancel one before it is sent.
    await wait_for_round_trips(script, trips + 1)
    tasks[1].cancel()
    # Both written, no reply read yet: cancel one whose hit went.
    await wait_for_round_trips(script, trips + 2)
    tasks[3].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(outcomes[1]), type(outcomes[3])] == [asyncio.CancelledError] * 2
    others = [outcome for outcome in outcomes if isinstance(outcome, WindowHit)]
    assert len(others) == 4 and all(outcome.allowed for outcome in others)
    # The hit cancelled in flight was recorded (as through redis-py), the one never sent not.
    assert sorted(outcome.remaining for outcome in others) == [5, 6, 8, 9]
    assert (await window.hit(key, 10, 60)).remaining == 4
    assert script.by_client == 0 and script.round_trips == trips + 3


async def test_a_call_cancelled_alone_in_flight_gives_up_the_connection_not_the_lane(
    redis_client: Redis, settings: Settings
) -> None:
    window, script, trips = await warmed(redis_client, settings)
    key = fresh_key()
    alone = asyncio.create_task(window.hit(key, 10, 60))
    await wait_for_round_trips(script, trips + 1)
    queued = [asyncio.create_task(window.hit(key, 10, 60)) for _ in range(3)]
    alone.cancel()
    outcomes = await asyncio.gather(alone, *queued, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    # The reply it left unread went with its connection; the queued hits went on a new one.
    rest = [outcome for outcome in outcomes[1:] if isinstance(outcome, WindowHit)]
    assert sorted(outcome.remaining for outcome in rest) == [6, 7, 8]
    assert script.by_client == 0 and script.round_trips == trips + 2


async def test_the_reads_of_a_signed_in_caller_come_with_each_hit(
    redis_client: Redis, settings: Settings
) -> None:
    window = window_on(redis_client, settings)
    denied = redis_key(settings, "lane-test", "denied")
    epoch = redis_key(settings, "lane-test", "epoch")
    await redis_client.set(epoch, "1700000000")
    await redis_client.set(denied, "1")
    results = await asyncio.gather(
        *(window.hit(fresh_key(), 3, 60, (denied, epoch)) for _ in range(10)),
        *(window.hit(fresh_key(), 3, 60, (epoch + "x", denied + "x")) for _ in range(10)),
        window.hit(fresh_key(), 3, 60),
    )
    assert all(r.exists is True and r.value == "1700000000" for r in results[:10])
    assert all(r.exists is False and r.value is None for r in results[10:20])
    assert results[20].exists is None and results[20].value is None
    assert lane(window).by_client == 0


async def test_one_erroring_script_in_a_batch_fails_alone(
    redis_client: Redis, settings: Settings
) -> None:
    spoiled = fresh_key()
    # The window's key holds a string: its script's ZREMRANGEBYSCORE answers WRONGTYPE.
    await redis_client.set(redis_key(settings, "lane-test", f"{spoiled}:3/60s"), "not a window")
    window, script, trips = await warmed(redis_client, settings)
    good = fresh_key()
    outcomes = await asyncio.gather(
        *(window.hit(key, 3, 60) for key in [good, spoiled, good, good, good]),
        return_exceptions=True,
    )
    # The first hit went alone, the spoiled one with the other three.
    assert script.round_trips == trips + 2
    failure = outcomes[1]
    assert isinstance(failure, WindowUnavailable) and isinstance(failure.cause, ResponseError)
    assert "WRONGTYPE" in str(failure.cause)
    fine = [outcome for outcome in outcomes if isinstance(outcome, WindowHit)]
    assert len(fine) == 4
    assert_exact(fine, 3)
    # The error went through redis-py (which raised it); the connection stays reserved.
    assert script.by_client == 1
    assert (await window.hit(good, 4, 60)).allowed
    assert script.round_trips == trips + 3 and script.by_client == 1


async def test_hits_after_a_script_flush_reload_it_and_stay_exact(
    redis_client: Redis, settings: Settings
) -> None:
    window = window_on(redis_client, settings)
    key = fresh_key()
    assert (await window.hit(key, 7, 60)).allowed
    script = lane(window)
    trips = script.round_trips
    await redis_client.script_flush()
    # A burst as the first requests after a restart make: the hit sent alone is answered
    # NOSCRIPT and goes again behind a SCRIPT LOAD, the 239 queued meanwhile find it loaded.
    # (Handed to redis-py instead, they took 239 pool connections at once: past the pool's
    # 100, a hundred and more failed as an outage and turned the limits off.)
    others = [fresh_key() for _ in range(3)]
    plan = [key, *(([key, *others]) * 60)][:240]
    results = await hits(window, plan, limit=7)
    assert script.by_client == 0
    assert script.round_trips == trips + 3
    assert sum(r.allowed for wanted, r in zip(plan, results, strict=True) if wanted == key) == 6
    for other in others:
        assert_exact([r for wanted, r in zip(plan, results, strict=True) if wanted == other], 7)


async def test_a_restart_mid_run_is_ridden_out_without_an_outage(
    relay: RedisRelay, relayed_client: Redis, redis_client: Redis, settings: Settings
) -> None:
    window = window_on(relayed_client, settings)
    key = fresh_key()
    assert_exact(await hits(window, [key] * 6, limit=5), 5)
    script = lane(window)
    trips = script.round_trips
    # As a restart does: every connection dropped and the scripts forgotten.
    await relay.drop_connections()
    await redis_client.script_flush()
    other = fresh_key()
    results = await hits(window, [other] * 8, limit=5)
    assert_exact(results, 5)
    # The first hit's round trip failed on the dropped connection, so it and the seven queued
    # behind it went through redis-py, which reconnected and loaded the script again.
    assert script.round_trips == trips + 1 and script.by_client == 8
    # Then a connection is reserved again.
    assert_exact(await hits(window, [fresh_key()] * 4, limit=3), 3)
    assert script.round_trips == trips + 3 and script.by_client == 8
    # The window kept its hits across: the first key is still full.
    assert not (await window.hit(key, 5, 60)).allowed


class StepClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_outage_fails_open_logs_once_and_the_lane_comes_back(
    relay: RedisRelay,
    relayed_client: Redis,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = StepClock()
    window = window_on(relayed_client, settings)
    limiter = ApiRateLimiter(ApiRateLimits(settings), window, clock)
    caller = Caller(f"user:{uuid.uuid4()}", parse("3/minute"))
    first = await limiter.hit(caller)
    assert first is not None and first.allowed and first.remaining == 2
    script = lane(window)
    with caplog.at_level(logging.WARNING, logger="autogrid.api.rate_limits"):
        await relay.stop()
        assert await limiter.hit(caller) is None  # fails open
        assert await limiter.hit(caller) is None  # not asked again until the recheck
        await relay.start()
        clock.now += OUTAGE_RECHECK_SECONDS
        back = await limiter.hit(caller)
        assert back is not None and back.allowed and back.remaining == 1
    messages = [record.getMessage() for record in caplog.records]
    assert sum("API rate limits are off" in message for message in messages) == 1
    assert sum("API rate limits are back" in message for message in messages) == 1
    # The hit that met the outage and the one that found Redis again went through redis-py;
    # the next ones are on a reserved connection again, and the window is exact across.
    assert script.by_client == 2
    trips = script.round_trips
    results = await asyncio.gather(*(limiter.hit(caller) for _ in range(3)))
    assert [verdict.allowed for verdict in results if verdict] == [True, False, False]
    assert script.round_trips == trips + 2 and script.by_client == 2


@pytest.mark.parametrize(("decoded", "protocol"), [(True, 2), (False, 3)])
async def test_a_client_configured_otherwise_runs_every_call_through_redis_py(
    settings: Settings, own_redis: str, decoded: bool, protocol: int
) -> None:
    client = Redis.from_url(own_redis, decode_responses=decoded, protocol=protocol)
    try:
        window = window_on(client, settings)
        epoch = redis_key(settings, "lane-test", "epoch")
        await client.set(epoch, "1700000000")
        results = await asyncio.gather(
            *(window.hit(key, 2, 60, (epoch, epoch)) for key in [fresh_key()] * 3)
        )
        assert_exact(list(results), 2)
        assert all(result.exists and result.value == "1700000000" for result in results)
        assert lane(window).by_client == 3 and lane(window).round_trips == 0
    finally:
        async for name in client.scan_iter(match=redis_key(settings, "lane-test", "*")):
            await client.delete(name)
        await client.aclose()


async def test_redis_py_connections_still_expose_the_streams_the_lane_reads(
    redis_client: Redis,
) -> None:
    """``PipelinedScript`` reads a pool connection's ``_reader`` and writes its ``_writer``; if
    redis-py renames or replaces them, this fails (the lane itself would silently hand every
    call back to redis-py, which the other tests here catch too)."""
    pool = redis_client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        assert isinstance(connection._reader, asyncio.StreamReader)
        assert isinstance(connection._writer, asyncio.StreamWriter)
        assert connection.socket_timeout is None or connection.socket_timeout > 0
    finally:
        await pool.release(connection)
