"""Real Celery workers (and beat) for the runtime's end-to-end tests, each test on its own Redis
key prefix (hence its own queues), sharing the test session's PostgreSQL database."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from autogrid.core.config import Settings
from autogrid.worker.celery_app import AutoGridCelery, create_celery
from tests.exchanges.conftest import sim_api_urls
from tests.support.faulty_worker import KillPoint, faulty_worker_argv
from tests.worker.processes import CELERY, process_env, running, tail

WORKER_TIMEOUT = 60.0
REPO_ROOT = Path(__file__).resolve().parents[2]
# A dead worker's lease and an unknown order's grace window pass in seconds, so the tests can
# watch the take-over (the grace still outlasts one request, as the settings require).
FAST_TIMINGS = {
    "bot_lease_seconds": "4",
    "unknown_order_grace_seconds": "3",
    "unknown_order_lookups": "2",
    "unknown_order_lookup_spacing_seconds": "1",
    "exchange_timeout_ms": "3000",
}


@dataclass(frozen=True)
class Faults:
    """What a worker started through ``tests.support.faulty_worker`` does wrong."""

    kill_at: KillPoint | None = None
    trace: Path | None = None
    hold: float = 0.0


@dataclass
class Stack:
    """Settings for the processes of one test, and the Celery app to send them tasks."""

    settings: Settings
    tmp: Path
    sim_url: str | None = None
    logs: list[Path] = field(default_factory=list)
    _app: AutoGridCelery | None = None

    @property
    def app(self) -> AutoGridCelery:
        if self._app is None:
            self._app = create_celery(self.settings)
        return self._app

    def env(self) -> dict[str, str]:
        settings = self.settings
        exchange_urls = {"binance": sim_api_urls(self.sim_url)} if self.sim_url else {}
        env = process_env(
            database_url=settings.database_url,
            redis_url=settings.redis_url or "",
            redis_key_prefix=settings.redis_key_prefix,
            var_dir=str(self.tmp / "var"),
            jwt_secret=settings.jwt_secret,
            encryption_keys=",".join(settings.encryption_keys),
            log_json="false",
            exchange_api_urls=json.dumps(exchange_urls),
            **FAST_TIMINGS,
        )
        # The faulty worker is run as a module of the tests.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT / "src"), str(REPO_ROOT), env.get("PYTHONPATH", "")]
        )
        return env

    @contextmanager
    def worker(self, name: str, faults: Faults | None = None) -> Iterator[subprocess.Popen[bytes]]:
        """A real worker; with ``faults``, one that fails as told (``faulty_worker``)."""
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        celery = [
            "-A",
            "autogrid.worker.celery_app",
            "worker",
            "--pool=solo",
            "-l",
            "INFO",
            "-n",
            f"{name}@%h",
            # Mingle asks the other workers for revoked task ids at start-up and waits a second
            # for answers; no test revokes tasks, and a worker runs tasks that second sooner.
            "--without-mingle",
        ]
        argv = (
            [*CELERY, *celery]
            if faults is None
            else faulty_worker_argv(
                celery, kill_at=faults.kill_at, trace=faults.trace, hold=faults.hold
            )
        )
        with running(argv, env=self.env(), cwd=self.tmp, log=log) as process:
            yield process

    @contextmanager
    def beat(self, name: str = "beat") -> Iterator[subprocess.Popen[bytes]]:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        argv = [*CELERY, "-A", "autogrid.worker.celery_app", "beat", "-l", "INFO"]
        with running(argv, env=self.env(), cwd=self.tmp, log=log) as process:
            yield process

    def tick(self, bot_id: uuid.UUID) -> None:
        self.app.send_task("autogrid.scheduling.tasks.tick_bot", args=[str(bot_id)])

    def close(self) -> None:
        if self._app is not None:
            self._app.close()

    def logs_text(self) -> str:
        return "\n".join(f"--- {log.name}\n{tail(log, 80)}" for log in self.logs)


def isolated_settings(settings: Settings, tmp: Path) -> Settings:
    prefix = f"agrt:{uuid.uuid4().hex[:10]}:"
    return settings.model_copy(update={"redis_key_prefix": prefix, "var_dir": tmp / "var"})


def flush_prefix(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url or "")
    for key in client.scan_iter(match=f"{settings.redis_key_prefix}*", count=1000):
        client.delete(key)
    client.close()


async def eventually(
    condition: Callable[[], Any], stack: Stack, timeout: float = WORKER_TIMEOUT, every: float = 0.1
) -> Any:
    """Await ``condition()`` until truthy; fail with the processes' logs otherwise.

    Every 0.1 s: a condition is a query or two, and each wait ends that much sooner after the
    workers get there (a test waits on them dozens of times)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; process logs:\n{stack.logs_text()}")
        await asyncio.sleep(every)
