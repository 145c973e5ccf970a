"""``autogrid dev``: the whole platform on one machine, with no server to install.

By default SQLite and the file-system broker under ./var. It migrates the database, then runs the
API, a Celery worker and beat as children started through this same command line (``python -m
autogrid.cli serve|worker|beat``), so development exercises the production code paths. Ctrl-C
or SIGTERM stops all three. Once the API answers, a box shows the docs URL and the demo login;
routine lines (each request, each task) are summarised once a minute. A child that dies on its
own is restarted after a backoff, with a log line saying which one, its exit code and when it
comes back; the others keep running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from pathlib import Path

import click
import httpx

from autogrid.cli.database import printable_url, upgrade_database
from autogrid.cli.server import PROMETHEUS_MULTIPROC_ENV
from autogrid.cli.startup import configure_command_logging, load_settings_or_exit
from autogrid.cli.supervisor import Backoff, ChildSpec, Supervisor
from autogrid.core.config import Settings
from autogrid.core.heap import freeze_startup_heap
from autogrid.demo.seed import LOGIN_FILE, DemoSeed, seed_demo

# Two task threads: a long job (a backtest) does not hold up short ones, and SQLite sees at
# most two writers from the worker.
DEV_WORKER_ARGS = ("--pool", "threads", "--concurrency", "2")
STOP_TIMEOUT_SECONDS = 10.0
DEV_LOG_SUMMARY_SECONDS = 60
# How long the banner waits for the API's first answer (a first start migrates and imports).
READY_WAIT_SECONDS = 300.0
# A crashed child is back within a second; one that keeps crashing is retried once a minute.
RESTART_BACKOFF = Backoff(first_seconds=1.0, most_seconds=60.0, stable_seconds=60.0)

logger = logging.getLogger("autogrid.dev")


def browsable_base_url(settings: Settings) -> str:
    host = settings.host
    if host in {"", "0.0.0.0", "::"}:  # noqa: S104 - recognising a wildcard bind, not binding
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def fresh_metrics_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory.resolve()


def ready_banner(settings: Settings, demo: DemoSeed, base_url: str) -> str:
    """What a newcomer needs, in one box: where to click and how to log in."""
    password = demo.password or "(its password was removed from the file below)"
    rows = [
        "AutoGrid is up",
        "",
        f"API docs (Swagger):  {base_url}/docs",
        f"metrics:             {base_url}/metrics",
        f"demo login:          {demo.email} / {password}",
        f"                     (kept in {settings.var_dir / LOGIN_FILE})",
        "log in with POST /api/v1/auth/login, or Authorize in Swagger",
        f"stop: Ctrl-C, or kill {os.getpid()}",
    ]
    width = max(len(row) for row in rows)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {row.ljust(width)} |" for row in rows), rule])


def announce_when_ready(base_url: str, banner: str) -> None:
    """Print the banner once the API answers, below the children's start-up lines."""

    def wait_then_print() -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per poll
        deadline = time.monotonic() + READY_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    click.echo(banner)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        logger.warning("the API did not answer /health within %.0f s", READY_WAIT_SECONDS)

    threading.Thread(target=wait_then_print, name="ready-banner", daemon=True).start()


def child_specs(settings: Settings) -> list[ChildSpec]:
    cli = [sys.executable, "-m", "autogrid.cli"]
    return [
        ChildSpec("api", [*cli, "serve", "--host", settings.host, "--port", str(settings.port)]),
        ChildSpec("worker", [*cli, "worker", "--quiet", *DEV_WORKER_ARGS]),
        ChildSpec("beat", [*cli, "beat", "--quiet"]),
    ]


@click.command("dev")
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=1),
    default=STOP_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds the children get to stop before they are killed.",
)
def dev_command(stop_timeout: float) -> None:
    """Run API, worker and beat together for development (PORT sets the port)."""
    settings = load_settings_or_exit()
    if settings.is_production:
        raise click.ClickException(
            "autogrid dev is for development; in production run serve, worker and beat"
        )
    child_env = dict(os.environ)
    if "log_json" not in settings.model_fields_set:
        # Readable lines in a terminal, unless LOG_JSON was asked for explicitly.
        child_env["LOG_JSON"] = "false"
        settings = settings.model_copy(update={"log_json": False})
    if "log_summary_seconds" not in settings.model_fields_set:
        # One line a minute instead of three a second for requests and ticks; warnings and
        # errors are still written as they happen.
        child_env["LOG_SUMMARY_SECONDS"] = str(DEV_LOG_SUMMARY_SECONDS)
    configure_command_logging(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    # API, worker and beat share one metrics directory, so the API's /metrics also shows what the
    # worker records (orders, fills, ticks). Emptied now, before any of them starts.
    child_env[PROMETHEUS_MULTIPROC_ENV] = str(fresh_metrics_dir(settings.var_dir / "prometheus"))
    upgrade_database(settings)
    demo = asyncio.run(seed_demo(settings))

    base_url = browsable_base_url(settings)
    click.echo(f"database: {printable_url(settings.database_url)}")
    click.echo(f"broker:   {printable_url(settings.broker_url)}")
    if demo.candles_imported:
        click.echo(f"demo:     imported {demo.candles_imported} real BTC/USDT 1m candles")
    click.echo("starting the API, a worker and beat...")
    announce_when_ready(base_url, ready_banner(settings, demo, base_url))
    # This process now only supervises, as long as the children run: what its start-up left
    # alive (~300k objects) leaves the collector's reach, or its exit walks it for seconds after
    # the last child stopped (core.heap).
    freeze_startup_heap()
    supervisor = Supervisor(
        child_specs(settings),
        stop_timeout=stop_timeout,
        env=child_env,
        # Through the log, so each restart has a timestamp among the children's lines.
        echo=logger.warning,
        restart=RESTART_BACKOFF,
    )
    code = supervisor.run()
    sys.exit(code)
