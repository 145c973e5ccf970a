"""``autogrid dev``: the whole platform on one machine, with no server to install.

By default SQLite and the file-system broker under ./var. It migrates the database, then runs the
API, a Celery worker and beat as children started through this same command line (``python -m
autogrid.cli serve|worker|beat``), so development exercises the production code paths. Ctrl-C
or SIGTERM stops all three. A child that dies on its own is restarted after a backoff, with a
log line saying which one, its exit code and when it comes back; the others keep running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from autogrid.cli.database import printable_url, upgrade_database
from autogrid.cli.server import PROMETHEUS_MULTIPROC_ENV
from autogrid.cli.startup import configure_command_logging, load_settings_or_exit
from autogrid.cli.supervisor import Backoff, ChildSpec, Supervisor
from autogrid.core.config import Settings
from autogrid.demo.seed import LOGIN_FILE, seed_demo

# Two task threads: a long job (a backtest) does not hold up short ones, and SQLite sees at
# most two writers from the worker.
DEV_WORKER_ARGS = ("--pool", "threads", "--concurrency", "2")
STOP_TIMEOUT_SECONDS = 10.0
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


def child_specs(settings: Settings) -> list[ChildSpec]:
    cli = [sys.executable, "-m", "autogrid.cli"]
    return [
        ChildSpec("api", [*cli, "serve", "--host", settings.host, "--port", str(settings.port)]),
        ChildSpec("worker", [*cli, "worker", *DEV_WORKER_ARGS]),
        ChildSpec("beat", [*cli, "beat"]),
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
    click.echo(f"API docs: {base_url}/docs")
    click.echo(f"metrics:  {base_url}/metrics")
    if demo.candles_imported:
        click.echo(f"demo:     imported {demo.candles_imported} real BTC/USDT 1m candles")
    password = demo.password or f"(see {settings.var_dir / LOGIN_FILE})"
    click.echo(f"login:    {demo.email} / {password}  (POST /api/v1/auth/login, or Authorize)")
    click.echo("Ctrl-C stops everything.")
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
