"""Signal entry under load: accepted signals a second and accept latency (p50/p99) on ONE API
process (`autogrid serve`), plus the API process's CPU time per signal. Asserts nothing.

Run from the repository root:
    .venv/bin/python bench/bench_signals.py [--signals 2000] [--concurrency 16] [--sources 1,16]

A throw-away PostgreSQL database on the test server (AUTOGRID_TEST_PG_ADMIN) and Redis
(AUTOGRID_TEST_REDIS) under a fresh key prefix. Each post is a distinct pause/resume alert (its
own alert id), so every one is accepted: stored with its event in one transaction, then sent to
the (absent) workers. Posts to one source decide "duplicate or not" one after the other (the
source row's lock), so the run is repeated with the posts spread over several sources. Latency
is the client's, request to answer. The machine is shared: CPU time per signal is the steadier
figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.infra import REDIS_TEST_URL, migrated_database
from tests.worker.processes import AUTOGRID, free_port, process_env, running

from autogrid.core.config import new_encryption_key

PASSWORD = "correct horse battery staple"
GRID_BOT = {
    "name": "bench",
    "type": "grid",
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "mode": "paper",
    "paper": {"price_source": "live", "balances": {"USDT": "10000"}},
    "config": {
        "lower_price": "100000",
        "upper_price": "125000",
        "grid_count": 20,
        "spacing": "arithmetic",
        "investment": "5000",
        "direction": "long",
    },
}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


async def wait_ready(http: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the API did not start (see its log)")


async def owner(http: httpx.AsyncClient) -> dict[str, str]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    made = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    made.raise_for_status()
    login = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def sources(http: httpx.AsyncClient, headers: dict[str, str], count: int) -> list[str]:
    bot = await http.post("/api/v1/bots", json=GRID_BOT, headers=headers)
    bot.raise_for_status()
    tokens = []
    for number in range(count):
        body = {"name": f"bench-{number}", "bot_ids": [bot.json()["id"]]}
        made = await http.post("/api/v1/signal-sources", json=body, headers=headers)
        made.raise_for_status()
        tokens.append(made.json()["token"])
    return tokens


async def post_all(
    http: httpx.AsyncClient, tokens: list[str], count: int, concurrency: int
) -> tuple[list[float], int, float]:
    """Latencies (ms) of accepted posts, how many were not accepted, and the wall time."""
    latencies: list[float] = []
    refused = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(count):
        queue.put_nowait(number)
    run = uuid.uuid4().hex[:8]

    async def sender() -> None:
        nonlocal refused
        while not queue.empty():
            number = queue.get_nowait()
            action = "pause" if number % 2 else "resume"
            body = json.dumps({"action": action, "alert_id": f"{run}-{number}"})
            started = time.perf_counter()
            answer = await http.post(
                f"/api/v1/signals/{tokens[number % len(tokens)]}",
                content=body,
                headers={"Content-Type": "text/plain"},
            )
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code == 202 and answer.json()["outcome"] == "accepted":
                latencies.append(elapsed)
            else:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return latencies, refused, time.perf_counter() - started


def report(label: str, latencies: list[float], refused: int, wall: float, cpu: float) -> None:
    ordered = sorted(latencies)
    if not ordered:
        print(f"{label}: nothing accepted ({refused} refused)")
        return
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{label}: {len(ordered)} accepted ({refused} not) in {wall:.1f} s = "
        f"{len(ordered) / wall:.0f} signals/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
        f"API CPU {cpu / len(ordered) * 1000:.2f} ms per signal"
    )


async def run(args: argparse.Namespace, pg_url: str, workdir: Path) -> None:
    port = free_port()
    env = process_env(
        environment="development",
        database_url=pg_url,
        redis_url=REDIS_TEST_URL,
        redis_key_prefix=f"bench:{uuid.uuid4().hex[:8]}:",
        jwt_secret="bench-jwt-secret-" + uuid.uuid4().hex,
        encryption_keys=new_encryption_key(),
        log_level="WARNING",
        rate_limit_register_per_hour="100000",
        rate_limit_login_per_minute="10000",
        # Every post comes from this one address: the bench measures the entry, not limits.
        rate_limit_api_anonymous="100000000/minute",
        rate_limit_api_default="100000000/minute",
    )
    argv = [*AUTOGRID, "serve", "--port", str(port)]
    print(f"API log: {workdir / 'api.log'}")
    with running(
        argv, env={**env, "VAR_DIR": str(workdir)}, cwd=workdir, log=workdir / "api.log"
    ) as api:
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
        ) as http:
            await wait_ready(http)
            headers = await owner(http)
            await post_all(http, await sources(http, headers, 1), 50, 4)  # warm up
            for count in args.sources:
                tokens = await sources(http, headers, count)
                cpu_before = cpu_seconds(api.pid)
                latencies, refused, wall = await post_all(
                    http, tokens, args.signals, args.concurrency
                )
                cpu = cpu_seconds(api.pid) - cpu_before
                report(
                    f"{count} source(s), {args.concurrency} senders", latencies, refused, wall, cpu
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--sources", type=lambda text: [int(n) for n in text.split(",")], default=[1, 16]
    )
    args = parser.parse_args()
    with migrated_database("autogrid_bench") as pg_url, tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args, pg_url, Path(workdir)))


if __name__ == "__main__":
    main()
