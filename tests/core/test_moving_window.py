"""The one moving window, in Redis and in memory: exact across a window's edge, a give-back
removes only its own hit, parallel hits never exceed the limit, and an outage is reported.

Time is an injected clock: the tests step it across edges instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.moving_window import (
    MemoryMovingWindow,
    MovingWindow,
    RecordedHit,
    RedisMovingWindow,
    WindowUnavailable,
    create_moving_window,
)
from autogrid.core.redis import key as redis_key

# Far from zero, as a real clock is; whole milliseconds, as Redis scores them.
START = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now = round(self.now + seconds, 3)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        async for name in client.scan_iter(match=redis_key(settings, "window-test", "*")):
            await client.delete(name)
        await client.aclose()


@pytest.fixture(params=["redis", "memory"])
def window(request: pytest.FixtureRequest, settings: Settings, clock: FakeClock) -> MovingWindow:
    if request.param == "memory":
        return MemoryMovingWindow(clock)
    client: Redis = request.getfixturevalue("redis_client")
    return RedisMovingWindow(client, redis_key(settings, "window-test"), clock)


def fresh_key() -> str:
    return f"k:{uuid.uuid4().hex}"


async def allowed_count(window: MovingWindow, key: str, attempts: int, limit: int) -> int:
    results = [await window.hit(key, limit, 60) for _ in range(attempts)]
    return sum(result.allowed for result in results)


async def test_a_burst_on_both_sides_of_an_edge_gets_the_limit_once(
    window: MovingWindow, clock: FakeClock
) -> None:
    """A window counter lets ``limit`` through just before its edge and nearly as many just
    after (it weighs the previous window by its remaining share); an exact window does not."""
    key = fresh_key()
    clock.advance(59.9)
    assert await allowed_count(window, key, 5, limit=5) == 5
    for step in (0.2, 1.0, 10.0, 30.0, 59.7):
        clock.now = START + 59.9 + step
        refused = await window.hit(key, 5, 60)
        assert not refused.allowed, step
        assert refused.reset_in == pytest.approx(60 - step, abs=0.002)
    # Exactly one window after the burst, the whole budget is back.
    clock.now = START + 119.9
    assert await allowed_count(window, key, 6, limit=5) == 5


async def test_a_slot_frees_when_its_own_hit_leaves(window: MovingWindow, clock: FakeClock) -> None:
    key = fresh_key()
    first = await window.hit(key, 2, 60)
    clock.advance(30)
    second = await window.hit(key, 2, 60)
    assert first.allowed and second.allowed and second.remaining == 0
    assert (await window.hit(key, 2, 60)).reset_in == pytest.approx(30)
    clock.advance(30)  # the first hit leaves now, the second in 30 s
    assert (await window.hit(key, 2, 60)).allowed
    assert not (await window.hit(key, 2, 60)).allowed


async def test_forgive_removes_that_hit_and_no_other(
    window: MovingWindow, clock: FakeClock
) -> None:
    key = fresh_key()
    old = await window.hit(key, 3, 60)
    clock.advance(20)
    forgiven = await window.hit(key, 3, 60)
    clock.advance(20)
    await window.hit(key, 3, 60)
    assert forgiven.recorded is not None
    await window.forgive(forgiven.recorded)
    # Forgiving the same hit again (a retried success handler) gives nothing more back.
    await window.forgive(forgiven.recorded)
    assert (await window.hit(key, 3, 60)).allowed
    refused = await window.hit(key, 3, 60)
    assert not refused.allowed
    # The oldest hit is still the one that leaves first: the forgiven one was not it.
    assert refused.reset_in == pytest.approx(20)
    assert old.recorded is not None
    clock.advance(20)  # the oldest hit left by itself; forgiving it now changes nothing
    await window.forgive(old.recorded)
    assert (await window.hit(key, 3, 60)).allowed
    assert not (await window.hit(key, 3, 60)).allowed


async def test_a_refused_hit_is_neither_recorded_nor_forgivable(window: MovingWindow) -> None:
    key = fresh_key()
    await window.hit(key, 1, 60)
    refused = await window.hit(key, 1, 60)
    assert not refused.allowed and refused.recorded is None
    assert refused.remaining == 0


async def test_windows_of_other_keys_and_limits_are_separate(window: MovingWindow) -> None:
    key = fresh_key()
    await window.hit(key, 1, 60)
    assert (await window.hit(fresh_key(), 1, 60)).allowed
    # A caller moved to another plan starts afresh.
    assert (await window.hit(key, 2, 60)).allowed


async def test_parallel_hits_never_exceed_the_limit(window: MovingWindow) -> None:
    key = fresh_key()
    results = await asyncio.gather(*(window.hit(key, 7, 60) for _ in range(60)))
    assert sum(result.allowed for result in results) == 7
    ids = {result.recorded.id for result in results if result.recorded is not None}
    assert len(ids) == 7


async def test_parallel_hits_from_several_processes_never_exceed_the_limit(
    settings: Settings, clock: FakeClock
) -> None:
    """Each client has its own connection pool, as each API process has."""
    assert settings.redis_url
    clients = [Redis.from_url(settings.redis_url) for _ in range(4)]
    prefix = redis_key(settings, "window-test")
    windows = [RedisMovingWindow(client, prefix, clock) for client in clients]
    key = fresh_key()
    try:
        results = await asyncio.gather(
            *(windows[number % 4].hit(key, 10, 60) for number in range(80))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sum(result.allowed for result in results) == 10


async def test_the_redis_server_clock_is_the_default(
    settings: Settings, redis_client: Redis
) -> None:
    window = create_moving_window(redis_client, redis_key(settings, "window-test"))
    key = fresh_key()
    assert (await window.hit(key, 1, 60)).allowed
    refused = await window.hit(key, 1, 60)
    assert not refused.allowed and 59 <= refused.reset_in <= 60


async def test_an_unreachable_redis_raises_window_unavailable(settings: Settings) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    window = RedisMovingWindow(unreachable, redis_key(settings, "window-test"))
    try:
        with pytest.raises(WindowUnavailable) as caught:
            await window.hit(fresh_key(), 5, 60)
        with pytest.raises(WindowUnavailable):
            await window.forgive(RecordedHit("any", "id"))
    finally:
        await unreachable.aclose()
    assert caught.value.cause.__class__.__name__ == "ConnectionError"


def test_memory_windows_that_emptied_are_dropped(clock: FakeClock) -> None:
    window = MemoryMovingWindow(clock)

    async def run() -> None:
        for _ in range(50):
            await window.hit(fresh_key(), 1, 60)
        clock.advance(60)
        await window.hit("one more", 1, 60)

    asyncio.run(run())
    assert len(window._windows) == 1


# --- Property: the window agrees, step by step, with the definition --------------------------

LIMIT = 3
WINDOW_SECONDS = 10


@dataclass
class Model:
    """The definition: allowed iff fewer than LIMIT kept hits are younger than the window."""

    hits: dict[str, float] = field(default_factory=dict)

    def live(self, now: float) -> list[float]:
        return sorted(at for at in self.hits.values() if now - at < WINDOW_SECONDS)


Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(min_value=1, max_value=12_000)),
        st.tuples(st.just("hit"), st.just(0)),
        st.tuples(st.just("forgive"), st.integers(min_value=0, max_value=30)),
    ),
    max_size=40,
)


async def check_against_model(window: MovingWindow, clock: FakeClock, plan: list[Step]) -> None:
    model = Model()
    recorded: list[RecordedHit] = []
    allowed_at: list[float] = []
    key = fresh_key()
    for action, amount in plan:
        if action == "advance":
            clock.advance(amount / 1000)
        elif action == "forgive" and recorded:
            hit = recorded[amount % len(recorded)]
            await window.forgive(hit)
            model.hits.pop(hit.id, None)
        elif action == "hit":
            live = model.live(clock.now)
            counted = await window.hit(key, LIMIT, WINDOW_SECONDS)
            assert counted.allowed == (len(live) < LIMIT)
            if counted.recorded is not None:
                recorded.append(counted.recorded)
                model.hits[counted.recorded.id] = clock.now
                allowed_at.append(clock.now)
                live.append(clock.now)
            assert counted.remaining == LIMIT - len(live)
            oldest = min(live, default=None)
            expected_reset = 0.0 if oldest is None else oldest + WINDOW_SECONDS - clock.now
            assert counted.reset_in == pytest.approx(expected_reset, abs=0.002)
    # Without give-backs, no stretch of the window's length ever held more than LIMIT.
    if not any(action == "forgive" for action, _ in plan):
        for end in allowed_at:
            assert sum(1 for at in allowed_at if end - WINDOW_SECONDS < at <= end) <= LIMIT


@given(plan=steps)
@hypothesis_settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_memory_window_follows_the_definition(plan: list[Step]) -> None:
    clock = FakeClock()
    asyncio.run(check_against_model(MemoryMovingWindow(clock), clock, plan))


@given(plan=steps)
@hypothesis_settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_redis_window_follows_the_definition(settings: Settings, plan: list[Step]) -> None:
    clock = FakeClock()
    assert settings.redis_url
    redis_url = settings.redis_url
    prefix = redis_key(settings, "window-test")

    async def run() -> None:
        client = Redis.from_url(redis_url)
        try:
            await check_against_model(RedisMovingWindow(client, prefix, clock), clock, plan)
        finally:
            async for name in client.scan_iter(match=f"{prefix}:*"):
                await client.delete(name)
            await client.aclose()

    asyncio.run(run())
