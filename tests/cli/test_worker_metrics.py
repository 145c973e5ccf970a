"""A worker host serves its own Prometheus metrics, where the trading metrics are recorded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from autogrid.cli.group import cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_embedded_worker_serves_trading_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "VAR_DIR": str(tmp_path / "var"),
        "WORKER_METRICS_PORT": str(port),
    }
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "autogrid.cli", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert "autogrid_bot_tick_seconds" in body
        assert "autogrid_order_transitions_total" in body
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)


def test_prefork_metrics_need_a_shared_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    result = CliRunner().invoke(cli, ["worker", "--pool", "prefork", "--metrics-port", "9"])
    assert result.exit_code == 1
    assert "PROMETHEUS_MULTIPROC_DIR" in result.output
