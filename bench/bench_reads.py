"""Authenticated reads under load: our API against a bare FastAPI + asyncpg app, in one run.

Run from the repository root:  .venv/bin/python bench/bench_reads.py [--bots 3] [--seconds 10]

Both apps run under uvicorn, one worker each, on a throw-away PostgreSQL database on the test
server (AUTOGRID_TEST_PG_ADMIN) and Redis (AUTOGRID_TEST_REDIS). One user with ``--bots`` paper
bots; the same HTTP/1.1 keep-alive load (``--connections`` at once, each sending its next request
when the last answer arrived) drives each endpoint for ``--seconds``. Prints requests/s, p50/p99
latency and the server process's CPU time per request (the steadier figure on a shared machine),
and ours as a share of the bare app's requests/s. Asserts nothing.

The load comes from this process (``--client python``, the default: asyncio streams, no HTTP
library) or from ``wrk`` (``--client wrk``, if on the PATH: Debian's package ``wrk``), a C load
generator whose own CPU takes less of a small machine's cores from the servers measured; both
keep ``--connections`` requests outstanding, one per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_live_events import cpu_seconds, wait_ready
from tests.bots.factories import GRID_BODY
from tests.infra import REDIS_TEST_URL, migrated_database
from tests.worker.processes import AUTOGRID, free_port, process_env, running

from autogrid.core.config import Settings, new_encryption_key
from autogrid.core.db import Database
from autogrid.market_data.service import import_candle_file

PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[1]
CANDLES = REPO.parent / "shared" / "data" / "binance_BTC_USDT-1m.csv.gz"


async def import_candles(url: str) -> None:
    database = Database.from_settings(Settings(database_url=url), pooled=False)
    try:
        async with database.session_scope() as session:
            await import_candle_file(
                session, CANDLES, exchange="binance", symbol="BTC/USDT", timeframe="1m"
            )
    finally:
        await database.dispose()


async def one_connection(
    port: int, request: bytes, stop_at: float, latencies: list[float], statuses: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses.append(status)
    finally:
        writer.close()


async def load(port: int, path: str, token: str, connections: int, seconds: float) -> str:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    warm: list[float] = []
    await asyncio.gather(
        *(one_connection(port, request, time.perf_counter() + 1, warm, []) for _ in range(4))
    )
    latencies: list[float] = []
    statuses: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            one_connection(port, request, started + seconds, latencies, statuses)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    bad = sum(1 for status in statuses if status != 200)
    if bad:
        raise SystemExit(f"{path}: {bad} answers were not 200 (first {statuses[0]})")
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    rate = len(latencies) / elapsed
    return f"{rate:8,.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms|{len(latencies)}"


def wrk_load(port: int, path: str, token: str, connections: int, seconds: float) -> str:
    """``load``'s figures, the requests sent by ``wrk`` (one thread) instead."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    argv += ["-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"{path}: wrk met errors:\n{out}")
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([0-9.]+\w+)$", out, re.MULTILINE))
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out)[1])  # type: ignore[index]
    count = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    p50, p99 = (_milliseconds(percentiles[key]) for key in ("50", "99"))
    return f"{rate:8,.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms|{count}"


def _milliseconds(text: str) -> float:
    """wrk's duration (``812.00us``, ``1.23ms``, ``1.01s``) in milliseconds."""
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def measure(pid: int, port: int, path: str, token: str, args: argparse.Namespace) -> float:
    cpu = cpu_seconds(pid)
    if args.client == "wrk":
        figures = await asyncio.to_thread(
            wrk_load, port, path, token, args.connections, args.seconds
        )
    else:
        figures = await load(port, path, token, args.connections, args.seconds)
    line, count = figures.split("|")
    cpu_per_request = (cpu_seconds(pid) - cpu) / int(count) * 1e6
    rate = float(line.split("req/s")[0].replace(",", ""))
    print(f"{path:44} {line}  server cpu {cpu_per_request:5.0f} us/req")
    return rate


async def setup(base: str, bots: int) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        await wait_ready(http)
        email = f"reads-{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": email, "password": PASSWORD}
        (await http.post("/api/v1/auth/register", json=body)).raise_for_status()
        login = await http.post("/api/v1/auth/login", json=body)
        login.raise_for_status()
        token = login.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        bot_id = ""
        for number in range(bots):
            made = await http.post(
                "/api/v1/bots", json={**GRID_BODY, "name": f"grid {number}"}, headers=headers
            )
            if made.status_code != 201:
                raise SystemExit(f"creating a bot: {made.status_code} {made.text}")
            bot_id = made.json()["id"]
        return token, bot_id


async def run(args: argparse.Namespace, pg_url: str, workdir: Path) -> None:
    secret = "bench-jwt-secret-" + uuid.uuid4().hex
    ours, bare = free_port(), free_port()
    env = process_env(
        environment="development",
        database_url=pg_url,
        redis_url=REDIS_TEST_URL,
        redis_key_prefix=f"bench:{uuid.uuid4().hex[:8]}:",
        jwt_secret=secret,
        encryption_keys=new_encryption_key(),
        log_level="WARNING",
        rate_limit_api_anonymous="100000000/minute",
        rate_limit_api_default="100000000/minute",
    )
    bare_env = {
        **env,
        "BARE_DSN": pg_url.replace("postgresql+asyncpg://", "postgresql://"),
        "BARE_JWT_SECRET": secret,
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
    bare_argv = [*uvicorn, "bench.bare_reads_app:app", "--port", str(bare)]
    await import_candles(pg_url)  # a paper bot needs its market's candles
    with (
        running(
            [*AUTOGRID, "serve", "--port", str(ours)],
            env={**env, "VAR_DIR": str(workdir)},
            cwd=workdir,
            log=workdir / "api.log",
        ) as api,
        running(bare_argv, env=bare_env, cwd=REPO, log=workdir / "bare.log") as bare_app,
    ):
        try:
            token, bot_id = await setup(f"http://127.0.0.1:{ours}", args.bots)
        except SystemExit:
            print((workdir / "api.log").read_text()[-3000:])
            raise
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bare}", timeout=60) as http:
            await wait_ready_bare(http)
        print(
            f"{args.bots} bots, {args.connections} connections, {args.seconds:g} s per endpoint, "
            f"load from {args.client}"
        )
        bare_rate = await measure(bare_app.pid, bare, "/api/v1/bots", token, args)
        paths = ["/api/v1/auth/me", "/api/v1/bots", f"/api/v1/bots/{bot_id}"]
        paths.append(f"/api/v1/bots/{bot_id}/orders")
        for path in paths:
            rate = await measure(api.pid, ours, path, token, args)
            print(f"{'':44} {rate / bare_rate:6.0%} of the bare app's requests/s")
        # Little's law for a closed loop: each connection waits for its answer, so the mean
        # latency is connections / requests per second; and the p99 of a steady load is above
        # its mean (only the slowest 1% carrying most of the wait would put it below).
        half = bare_rate / 2
        print(
            f"closed loop: at half the bare app's rate ({half:,.0f} req/s) the mean latency of "
            f"{args.connections} connections is {1000 * args.connections / half:.1f} ms; a mean "
            f"under 20 ms needs more than {args.connections / 0.020:,.0f} req/s"
        )


async def wait_ready_bare(http: httpx.AsyncClient) -> None:
    for _ in range(600):
        try:
            await http.get("/openapi.json")
            return
        except httpx.HTTPError:
            await asyncio.sleep(0.1)
    raise SystemExit("the bare app did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--client", choices=("python", "wrk"), default="python")
    args = parser.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk)")
    with migrated_database("autogrid_bench") as pg_url, tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(args, pg_url, Path(workdir)))


if __name__ == "__main__":
    main()
