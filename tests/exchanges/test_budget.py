"""The shared request budget: token bucket, sharing through Redis across processes, slow-down."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from autogrid.exchanges.budget import (
    BudgetSpec,
    MemoryBudget,
    MemoryBudgets,
    RedisBudgets,
    credential_key,
)
from autogrid.exchanges.errors import RateLimited
from tests.exchanges.fakes import FakeClock

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- in memory


def memory_budget(spec: BudgetSpec, clock: FakeClock) -> MemoryBudget:
    return MemoryBudgets(clock=clock, sleep=clock.sleep).budget_for("binance", "k", spec)


async def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    budget = memory_budget(BudgetSpec(rate=10, burst=5), clock)
    for _ in range(5):
        await budget.acquire()
    assert clock.now == 1000.0  # the burst is free
    for _ in range(10):
        await budget.acquire()
    assert clock.now == pytest.approx(1001.0)  # then 10 per second


async def test_weights_are_spent() -> None:
    clock = FakeClock()
    budget = memory_budget(BudgetSpec(rate=10, burst=10), clock)
    await budget.acquire(10)
    await budget.acquire(20)
    assert clock.now == pytest.approx(1002.0)


async def test_waiters_reserve_in_arrival_order_without_polling() -> None:
    clock = FakeClock()
    asked: list[float] = []

    async def record_only(seconds: float) -> None:  # time stands still: all four arrive at once
        asked.append(seconds)

    budget = MemoryBudgets(clock=clock, sleep=record_only).budget_for(
        "binance", "k", BudgetSpec(rate=1, burst=1)
    )
    await asyncio.gather(*(budget.acquire() for _ in range(4)))
    assert asked == pytest.approx([1.0, 2.0, 3.0])  # one reservation each, no re-polling


async def test_refusing_to_queue_beyond_max_wait() -> None:
    clock = FakeClock()
    budget = memory_budget(BudgetSpec(rate=1, burst=1, max_wait=2), clock)
    await budget.acquire()
    await budget.acquire()
    await budget.acquire()
    with pytest.raises(RateLimited) as excinfo:
        await budget.acquire(5)
    assert excinfo.value.retry_after == pytest.approx(5.0)


async def test_slow_down_pauses_everyone_and_empties_the_bucket() -> None:
    clock = FakeClock()
    budgets = MemoryBudgets(clock=clock, sleep=clock.sleep)
    spec = BudgetSpec(rate=10, burst=10)
    first = budgets.budget_for("binance", "k", spec)
    second = budgets.budget_for("binance", "k", spec)
    assert first is second  # one bucket per (exchange, credential) in a process
    await first.slow_down(3)
    await second.acquire()
    assert clock.now == pytest.approx(1003.1)  # paused 3 s, then an empty bucket refills


async def test_a_slow_down_recorded_while_sleeping_applies() -> None:
    clock = FakeClock()
    budget = memory_budget(BudgetSpec(rate=1, burst=1), clock)
    await budget.acquire()

    async def sleep_and_meanwhile_slow_down(seconds: float) -> None:
        clock.now += seconds / 2
        await budget.slow_down(5)  # someone got a 429 halfway through our wait
        clock.now += seconds / 2
        clock.sleeps.append(seconds)

    budget._sleep = sleep_and_meanwhile_slow_down
    await budget.acquire()
    assert clock.now >= 1000.5 + 5


def test_credential_key_hides_the_key() -> None:
    key = credential_key("myApiKeyValue1234")
    assert "myApiKey" not in key and key == credential_key("myApiKeyValue1234")
    assert credential_key(None) == "public"


@pytest.mark.parametrize("spec", [(0, 1), (1, 0), (-1, 1)])
def test_invalid_specs(spec: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        BudgetSpec(rate=spec[0], burst=spec[1])


# ----------------------------------------------------------------------------- Redis


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def budget_prefix(redis_prefix: str) -> str:
    return f"{redis_prefix}budget-{uuid.uuid4().hex[:6]}:"


async def test_redis_bucket_keeps_the_rate(redis_client: Redis, budget_prefix: str) -> None:
    budget = RedisBudgets(redis_client, budget_prefix).budget_for(
        "binance", "k", BudgetSpec(rate=20, burst=5)
    )
    started = time.monotonic()
    for _ in range(25):
        await budget.acquire()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed <= 2.5  # (25 - 5) / 20 per second
    keys = [key.decode() async for key in redis_client.scan_iter(match=budget_prefix + "*")]
    assert keys == [f"{budget_prefix}exchange-budget:binance:k"]
    assert await redis_client.ttl(keys[0]) > 0  # idle buckets expire


async def test_redis_refuses_beyond_max_wait(redis_client: Redis, budget_prefix: str) -> None:
    budget = RedisBudgets(redis_client, budget_prefix).budget_for(
        "binance", "k", BudgetSpec(rate=1, burst=1, max_wait=0.5)
    )
    await budget.acquire()
    with pytest.raises(RateLimited) as excinfo:
        await budget.acquire(3)
    assert excinfo.value.retry_after == pytest.approx(3.0, abs=0.1)


async def test_redis_down_falls_back_to_a_local_limit(budget_prefix: str) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    budget = RedisBudgets(unreachable, budget_prefix).budget_for(
        "binance", "k", BudgetSpec(rate=20, burst=2)
    )
    started = time.monotonic()
    for _ in range(6):
        await budget.acquire()
    await budget.slow_down(0.01)
    assert time.monotonic() - started >= 0.15  # still limited, by this process alone
    await unreachable.aclose()


def _worker(redis_url: str, prefix: str, **options: float) -> subprocess.Popen[str]:
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.exchanges.budget_worker", redis_url, prefix, *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def _results(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(out)
    return result


def test_two_processes_share_one_budget(redis_url: str, budget_prefix: str) -> None:
    rate, burst, each = 20.0, 5.0, 30
    start_at = time.time() + 2.0  # both are up and connected by then
    workers = [
        _worker(redis_url, budget_prefix, rate=rate, burst=burst, count=each, start_at=start_at)
        for _ in range(2)
    ]
    first, second = (_results(worker)["granted"] for worker in workers)
    assert min(first[-1], second[-1]) - max(first[0], second[0]) > 0.5  # they really overlapped
    grants = sorted(first + second)
    # Alone, each would finish in (30 - 5) / 20 = 1.25 s; sharing one budget they need 2.75 s.
    assert grants[-1] - grants[0] >= (2 * each - burst) / rate - 0.15
    # In no one-second window did the pair exceed burst + rate (unshared they would reach twice
    # that). The slack allows for a grant stamped late by a busy machine.
    for i, start in enumerate(grants):
        in_window = sum(1 for t in grants[i:] if t - start <= 1.0)
        assert in_window <= burst + rate * 1.25


def test_a_slow_down_in_one_process_delays_the_other(redis_url: str, budget_prefix: str) -> None:
    rate, burst = 20.0, 2.0
    start_at = time.time() + 2.0
    # The steady process wants 40 grants (~2 s); 0.5 s in, the other records a 1.5 s slow-down.
    steady = _worker(redis_url, budget_prefix, rate=rate, burst=burst, count=40, start_at=start_at)
    hit = _worker(
        redis_url,
        budget_prefix,
        rate=rate,
        burst=burst,
        count=1,
        start_at=start_at + 0.5,
        slow_down=1.5,
    )
    slowed_at = _results(hit)["slow_down_at"]
    grants = _results(steady)["granted"]
    before = [t for t in grants if t <= slowed_at]
    after = [t for t in grants if t > slowed_at]
    # The steady process may have been past its last check when the slow-down landed: its grant
    # is stamped a moment after ``slowed_at`` though it was in flight before. It acquires one at
    # a time, so at most one such grant exists.
    in_flight = [t for t in after if t - slowed_at < 0.1]
    assert len(in_flight) <= 1
    later = after[len(in_flight) :]
    assert before and later
    assert later[0] - slowed_at >= 1.45  # nothing new was granted during the slow-down
