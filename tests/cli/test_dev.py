"""``autogrid dev`` end to end: it serves, runs tasks, and stops leaving no process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from autogrid.core.config import load_settings
from autogrid.worker.celery_app import create_celery
from tests.worker.processes import (
    AUTOGRID,
    command_line,
    descendants,
    free_port,
    process_env,
    process_identity,
    stop_group,
    tail,
    wait_until,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 120
STOP_LIMIT_SECONDS = 15


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    base_url: str
    workdir: Path
    log: Path

    def output(self) -> str:
        return tail(self.log, 80)

    def full_output(self) -> str:
        """Everything printed: the banner is at the start, and a busy worker logs a lot after it."""
        return self.log.read_text(errors="replace")

    def answers(self, path: str) -> bool:
        try:
            return httpx.get(self.base_url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def children(self) -> dict[int, str]:
        """Every process below ``autogrid dev``, with an identity that survives pid reuse."""
        found = {pid: process_identity(pid) for pid in descendants(self.process.pid)}
        return {pid: identity for pid, identity in found.items() if identity is not None}


def make_run(port: int) -> list[str]:
    """``make run`` of this checkout, with the venv running the tests (-o: never reinstall)."""
    venv = Path(sys.executable).parent.parent
    stamp = venv / ".installed"
    return [
        "make",
        "-f",
        str(REPO_ROOT / "Makefile"),
        "-o",
        str(stamp),
        "run",
        f"VENV={venv}",
        f"PORT={port}",
    ]


@contextmanager
def dev_server(
    tmp_path: Path,
    command: Callable[[int], list[str]] = lambda _port: [*AUTOGRID, "dev"],
    **settings: str,
) -> Iterator[DevServer]:
    """``autogrid dev`` in an empty directory: default SQLite and broker under ./var."""
    port = free_port()
    log = tmp_path / "dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command(port),
            cwd=tmp_path,
            env=process_env(port=str(port), **settings),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DevServer(process, f"http://127.0.0.1:{port}", tmp_path, log)
    seen_children: dict[int, str] = {}
    try:
        started = wait_until(lambda: server.answers("/health"), STARTUP_TIMEOUT_SECONDS)
        assert started, f"/health never answered 200:\n{server.output()}"
        seen_children.update(server.children())
        yield server
    finally:
        if process.poll() is None:
            stop_group(process, 5)
        # Last resort so a failing test leaves nothing running either.
        for pid, identity in seen_children.items():
            if process_identity(pid) == identity:
                subprocess.run(["kill", "-9", str(pid)], check=False)


def role_of(pid: int) -> str | None:
    """The role (serve, worker, beat) of a child started as ``python -m autogrid.cli ROLE``."""
    argv = command_line(pid)
    if "autogrid.cli" in argv:
        following = argv.index("autogrid.cli") + 1
        return argv[following] if following < len(argv) else None
    return None


def still_running(children: dict[int, str]) -> dict[int, str]:
    return {pid: ident for pid, ident in children.items() if process_identity(pid) == ident}


def ping_through_the_worker(tmp_path: Path, server: DevServer, timeout: float) -> None:
    """A task sent to the embedded broker under ./var is run by dev's worker."""
    settings = load_settings(
        environment="development",
        var_dir=tmp_path / "var",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'var' / 'autogrid.db'}",
    )
    result = create_celery(settings).send_task("autogrid.worker.tasks.ping")
    assert result.get(timeout=timeout) == "pong", server.output()


# One `autogrid dev` serves, has its worker killed and restarted, and is stopped: each start costs
# a migration, the demo's candles and three interpreters (15-30 s on a loaded machine), and the
# Ctrl-C stop is the same whether a child was restarted or not (it now also covers one that was).
def test_dev_serves_restarts_a_killed_worker_with_the_api_up_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path,
) -> None:
    with dev_server(tmp_path) as server:
        docs = httpx.get(server.base_url + "/docs", timeout=5)
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        # The first schema build can take longer than one 2 s request on a loaded machine.
        assert wait_until(lambda: server.answers("/openapi.json"), 60), server.output()

        # The worker started by dev runs tasks from the embedded broker under ./var.
        ping_through_the_worker(tmp_path, server, 60)

        before = server.children()
        roles = {role_of(pid) for pid in before}
        assert {"serve", "worker", "beat"} <= roles, server.output()

        # A killed worker is restarted while the API stays up.
        [api] = [pid for pid in before if role_of(pid) == "serve"]
        [worker] = [pid for pid in before if role_of(pid) == "worker"]
        subprocess.run(["kill", "-9", str(worker)], check=True)

        def new_worker() -> int | None:
            found = [pid for pid in server.children() if role_of(pid) == "worker"]
            return next((pid for pid in found if pid != worker), None)

        assert wait_until(lambda: new_worker() is not None, STARTUP_TIMEOUT_SECONDS), (
            server.output()
        )
        assert server.process.poll() is None, server.output()
        # The same API process kept serving: it was never stopped with the worker.
        assert process_identity(api) == before[api]
        assert server.answers("/health")
        # The new worker runs tasks.
        ping_through_the_worker(tmp_path, server, 120)

        children = {**before, **server.children()}
        stop_started = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(STOP_LIMIT_SECONDS)
        stop_seconds = time.monotonic() - stop_started

    output = server.output()
    print(f"autogrid dev stopped {stop_seconds:.1f}s after SIGINT")
    assert code == 0, output
    assert stop_seconds < STOP_LIMIT_SECONDS
    assert wait_until(lambda: not still_running(children), 10), still_running(children)
    printed = server.full_output()
    assert f"{server.base_url}/docs" in printed
    assert f"{server.base_url}/metrics" in printed
    assert (tmp_path / "var" / "autogrid.db").exists()
    assert "worker exited unexpectedly (code -9)" in printed
    assert "worker restarted (pid" in printed


def test_make_run_shows_the_login_once_up_and_a_sigterm_to_make_stops_everything(
    tmp_path: Path,
) -> None:
    # A short summary period (dev's default is a minute) so the test sees one soon.
    with dev_server(tmp_path, make_run, log_summary_seconds="2") as server:
        # The box comes once the API answers, after the children's start-up lines.
        assert wait_until(lambda: "AutoGrid is up" in server.full_output(), 60), server.output()
        children = server.children()
        assert {"serve", "worker", "beat"} <= {role_of(pid) for pid in children}
        # Beat claims ticks every second: without the summary each would print lines.
        tasks_ran = wait_until(lambda: "tasks done:" in server.full_output(), 90)
        # A newcomer's first search, on the demo's candles: its chunks run two at a time on the
        # worker's threads (which once shared one event loop: a chunk starting while another
        # ran failed, its runs left queued).
        sweep = demo_sweep(server, json.loads((tmp_path / "var" / "demo-login.json").read_text()))

        server.process.send_signal(signal.SIGTERM)  # make's own pid, not its group
        code = server.process.wait(STOP_LIMIT_SECONDS + 10)

    printed = server.full_output()
    login = json.loads((tmp_path / "var" / "demo-login.json").read_text())
    box = printed[printed.index("AutoGrid is up") :]
    assert f"{login['email']} / {login['password']}" in box
    assert "var/demo-login.json" in box
    assert f"{server.base_url}/docs" in box
    assert tasks_ran, server.output()
    assert sweep["counts"] == {"queued": 0, "running": 0, "succeeded": 9, "failed": 0}, sweep
    assert "succeeded in" not in printed  # Celery's per-task lines were summarised
    assert "[queues]" not in printed and "Configuration ->" not in printed  # no banners
    print(f"make exited with {code} after SIGTERM")
    assert wait_until(lambda: not still_running(children), 10), still_running(children)


def demo_sweep(server: DevServer, login: dict[str, str]) -> dict[str, Any]:
    """A nine-run RSI sweep over the demo's first week, by the demo user; the sweep once done
    (or as it stood after ``STARTUP_TIMEOUT_SECONDS``)."""
    with httpx.Client(base_url=server.base_url + "/api/v1", timeout=30) as client:
        tokens = client.post("/auth/login", json=login).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        rsi = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70}
        base = {
            "type": "indicator",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "start": "2025-05-20T00:00:00Z",
            "end": "2025-05-27T00:00:00Z",
            "initial_balance": "10000",
            "config": {**rsi, "order_pct": 100},
        }
        vary = {"period": [7, 14, 21], "buy_below": [25, 30, 35]}
        created = client.post(
            "/backtests/sweeps", json={"base": base, "vary": vary}, headers=headers
        )
        assert created.status_code == 202, created.text
        path = f"/backtests/sweeps/{created.json()['id']}"
        seen: dict[str, Any] = {}

        def finished() -> bool:
            seen.update(client.get(path, headers=headers).json())
            return seen.get("status") == "finished"

        # Once a second: the demo user's requests are rate limited (120 a minute).
        wait_until(finished, STARTUP_TIMEOUT_SECONDS, interval=1.0)
        return seen
