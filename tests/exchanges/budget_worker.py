"""A separate OS process spending a shared Redis budget (run by test_budget.py).

    python -m tests.exchanges.budget_worker URL PREFIX --rate R --burst B --count N
        [--start-at WALL_TIME] [--slow-down SECONDS]

Waits until ``--start-at`` (so several workers really overlap), acquires weight 1 N times as fast
as the budget allows and prints the wall-clock time of each grant as JSON. ``--slow-down`` first
records a slow-down (as if this process had just seen a 429).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from redis.asyncio import Redis

from autogrid.exchanges.budget import BudgetSpec, RedisBudgets


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("prefix")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--burst", type=float, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--slow-down", type=float, default=0.0)
    args = parser.parse_args()
    redis = Redis.from_url(args.url)
    budget = RedisBudgets(redis, args.prefix).budget_for(
        "binance", "shared", BudgetSpec(rate=args.rate, burst=args.burst, max_wait=60)
    )
    await redis.ping()
    await asyncio.sleep(max(0.0, args.start_at - time.time()))
    result: dict[str, object] = {"started": time.time()}
    if args.slow_down:
        await budget.slow_down(args.slow_down)
        result["slow_down_at"] = time.time()
    granted: list[float] = []
    for _ in range(args.count):
        await budget.acquire(1)
        granted.append(time.time())
    result["granted"] = granted
    print(json.dumps(result), flush=True)
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
