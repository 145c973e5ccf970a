"""The processes of a chaos run: the exchange simulator, the API, two workers and beat.

Each AutoGrid process runs in production mode (PostgreSQL, Redis, real secrets) in its own
process group, so a ``kill -9`` takes its pool children with it, as a container kill would. The
run owns a fresh database and a Redis key prefix, both removed by ``Environment.cleanup``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

from autogrid.core.config import Settings, new_encryption_key
from chaoskit.child import simulator_urls

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
STOP_TIMEOUT = 10.0


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@dataclass
class Environment:
    """The run's database, Redis prefix, secrets and folder: everything the children share."""

    workdir: Path
    database: str = field(default_factory=lambda: f"autogrid_chaos_{uuid.uuid4().hex[:10]}")
    redis_prefix: str = field(default_factory=lambda: f"chaos:{uuid.uuid4().hex[:10]}:")
    api_port: int = field(default_factory=free_port)
    sim_url: str = ""
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    encryption_key: str = field(default_factory=new_encryption_key)
    created: bool = False

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}"

    @property
    def asyncpg_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.database}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def create_database(self) -> None:
        asyncio.run(_admin(f'CREATE DATABASE "{self.database}"'))
        self.created = True

    def child_env(self) -> dict[str, str]:
        # Nothing of this shell's AutoGrid settings leaks in: only what the run sets.
        env = {
            name: value
            for name, value in os.environ.items()
            if name.lower() not in Settings.model_fields
            and not name.startswith("AUTOGRID_TEST_")
            and name != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(
            ENVIRONMENT="production",
            DATABASE_URL=self.database_url,
            REDIS_URL=REDIS_URL,
            REDIS_KEY_PREFIX=self.redis_prefix,
            JWT_SECRET=self.jwt_secret,
            ENCRYPTION_KEYS=self.encryption_key,
            VAR_DIR=str(self.workdir / "var"),
            HOST="127.0.0.1",
            PORT=str(self.api_port),
            LOG_JSON="false",
            # The run outlasts the default 15 minutes; the script keeps one login throughout.
            ACCESS_TOKEN_TTL_SECONDS="86400",
            # The script answers a 429 as a failure; the run tests trading through chaos, not the
            # API rate limit.
            RATE_LIMIT_API_DEFAULT="1000000/minute",
            RATE_LIMIT_API_ANONYMOUS="1000000/minute",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(
                [str(REPO_ROOT / "src"), str(REPO_ROOT), str(REPO_ROOT / "bench")]
            ),
        )
        if self.sim_url:
            env["EXCHANGE_API_URLS"] = json.dumps({"binance": simulator_urls(self.sim_url)})
        return env

    def migrate(self) -> None:
        log = self.workdir / "migrate.log"
        with log.open("wb") as output:
            subprocess.run(
                [sys.executable, "-m", "chaoskit.child", "migrate"],
                env=self.child_env(),
                cwd=self.workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=180,
            )

    def cleanup(self, keep_database: bool = False) -> None:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        try:
            for key in client.scan_iter(match=f"{self.redis_prefix}*", count=1000):
                client.delete(key)
        finally:
            client.close()
        if self.created and not keep_database:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            self.created = False


class ManagedProcess:
    """One child in its own process group; killed with SIGKILL (the whole group) and restarted."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as output:
            output.write(f"\n===== start {self.starts + 1} at {time.time():.3f}\n".encode())
            output.flush()
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """``kill -9`` of the process and every process of its group, at once."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        """A graceful stop (SIGTERM), then SIGKILL for whatever is left of the group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def autogrid_process(name: str, command: list[str], environment: Environment) -> ManagedProcess:
    argv = [sys.executable, "-m", "chaoskit.child", *command]
    return ManagedProcess(name, argv, environment.child_env(), environment.workdir)


def stack_processes(
    environment: Environment, concurrency: int, pool: str = "prefork"
) -> list[ManagedProcess]:
    """The API, two workers and beat, as a deployment runs them (``pool``: the workers')."""
    worker = ["worker", "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO"]
    return [
        autogrid_process("api", ["serve", "--port", str(environment.api_port)], environment),
        autogrid_process("worker-1", [*worker], environment),
        autogrid_process("worker-2", [*worker], environment),
        autogrid_process("beat", ["beat"], environment),
    ]
