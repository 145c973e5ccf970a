"""Live events under load: N WebSocket clients on ONE API process (`autogrid serve`), events
committed at a steady rate; prints p50/p99 latency from commit to client and the API process's
CPU time per delivered event. Asserts nothing.

Run from the repository root:
    .venv/bin/python bench/bench_live_events.py [--clients 1000] [--users 50] [--rate 50]
        [--seconds 30]

A throw-away PostgreSQL database on the test server (AUTOGRID_TEST_PG_ADMIN) and Redis
(AUTOGRID_TEST_REDIS) under a fresh key prefix. Clients are spread over ``--users`` users (each
event of a user goes to all of that user's clients); this process commits the events, one per
transaction, and records the time each commit returned, so latency is commit to client on one
clock. The machine is shared: CPU time per event is the steadier figure.
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
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.infra import REDIS_TEST_URL, migrated_database
from tests.worker.processes import AUTOGRID, free_port, process_env, running

from autogrid.core.config import Settings, load_settings, new_encryption_key
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.live.wakeup import announcer

PASSWORD = "correct horse battery staple"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (100 Hz)


async def wait_ready(http: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the API did not start (see its log)")


async def user_tokens(http: httpx.AsyncClient, count: int) -> list[tuple[uuid.UUID, str]]:
    users = []
    for number in range(count):
        email = f"bench-{number}-{uuid.uuid4().hex[:6]}@example.com"
        made = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        made.raise_for_status()
        login = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        login.raise_for_status()
        users.append((uuid.UUID(made.json()["id"]), login.json()["access_token"]))
    return users


async def client(
    http: httpx.AsyncClient, ws_base: str, token: str, arrivals: list[tuple[int, float]]
) -> ClientConnection:
    ticket = await http.post("/api/v1/ws/ticket", headers={"Authorization": f"Bearer {token}"})
    ws = await connect(f"{ws_base}/api/v1/ws?ticket={ticket.json()['ticket']}", max_queue=None)
    await ws.send(json.dumps({"action": "subscribe"}))
    await ws.recv()  # subscribed

    async def read() -> None:
        async for message in ws:
            event = json.loads(message)
            arrivals.append((event["id"], time.monotonic()))

    asyncio.get_running_loop().create_task(read())
    return ws


async def run(args: argparse.Namespace, pg_url: str, workdir: Path) -> None:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    settings = load_settings(database_url=pg_url, redis_url=REDIS_TEST_URL, redis_key_prefix=prefix)
    announcer.configure(settings)
    port = free_port()
    env = process_env(
        environment="development",
        database_url=pg_url,
        redis_url=REDIS_TEST_URL,
        redis_key_prefix=prefix,
        jwt_secret="bench-jwt-secret-" + uuid.uuid4().hex,
        encryption_keys=new_encryption_key(),
        log_level="WARNING",
        rate_limit_register_per_hour="100000",
        rate_limit_login_per_minute="10000",
        # Every client connects from this one address: the bench measures delivery, not limits.
        rate_limit_api_anonymous="1000000/minute",
        rate_limit_api_default="1000000/minute",
    )
    argv = [*AUTOGRID, "serve", "--port", str(port)]
    print(f"API log: {workdir / 'api.log'}")
    with running(
        argv, env={**env, "VAR_DIR": str(workdir)}, cwd=workdir, log=workdir / "api.log"
    ) as api:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            try:
                await wait_ready(http)
            except SystemExit:
                print((workdir / "api.log").read_text()[-3000:])
                raise
            users = await user_tokens(http, args.users)
            arrivals: list[tuple[int, float]] = []
            sockets = [
                await client(http, base.replace("http", "ws"), users[i % len(users)][1], arrivals)
                for i in range(args.clients)
            ]
            print(f"{len(sockets)} clients connected over {len(users)} users")
            cpu_before = cpu_seconds(api.pid)
            committed = await write_events(settings, [u for u, _ in users], args)
            expected = sum(
                1 for i in range(args.clients) for n in range(len(committed))
                if n % len(users) == i % len(users)
            )  # fmt: skip
            deadline = time.monotonic() + 60
            # A bench polling its own counter, with a deadline: what did not arrive is reported.
            while len(arrivals) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            report(committed, arrivals, expected, cpu_seconds(api.pid) - cpu_before)
            for ws in sockets:
                await ws.close()


async def write_events(
    settings: Settings, user_ids: list[uuid.UUID], args: argparse.Namespace
) -> dict[int, float]:
    """One event per transaction at ``--rate`` a second for ``--seconds``, round robin over the
    users; the time each commit returned, by id."""
    database = Database.from_settings(settings)
    committed: dict[int, float] = {}
    interval = 1 / args.rate
    start = time.monotonic()
    for number in range(int(args.rate * args.seconds)):
        await asyncio.sleep(max(0.0, start + number * interval - time.monotonic()))
        async with database.session_scope() as session:
            event = record_event(
                session,
                user_id=user_ids[number % len(user_ids)],
                bot_id=None,
                type=EventType.KILL_SWITCH_ENGAGED,
                message="bench",
                at=utcnow(),
                data={"n": number},
            )
            await session.flush()
        committed[event.id] = time.monotonic()
    await database.dispose()
    return committed


def report(
    committed: dict[int, float], arrivals: list[tuple[int, float]], expected: int, cpu: float
) -> None:
    latencies = sorted((at - committed[id_]) * 1000 for id_, at in arrivals if id_ in committed)
    if not latencies:
        print("no event arrived")
        return
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"delivered {len(latencies)} of {expected} expected ({len(committed)} events)")
    print(f"commit to client latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"API process CPU: {cpu:.2f} s, {cpu / len(latencies) * 1e6:.0f} us per delivered event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50, help="events committed a second")
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with migrated_database("autogrid_bench") as pg_url, tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args, pg_url, Path(workdir)))


if __name__ == "__main__":
    main()
