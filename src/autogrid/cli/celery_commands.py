"""``autogrid worker`` and ``autogrid beat``: the Celery processes, configured from the settings."""

from __future__ import annotations

import click

from autogrid.cli.startup import load_settings_or_exit
from autogrid.core.config import Settings
from autogrid.worker.beat import DEFAULT_LOCK_TTL_SECONDS, LOCK_TTL_CONF_KEY
from autogrid.worker.celery_app import SCHEDULER_PATH, create_celery, is_embedded, worker_queues

POOLS = ("prefork", "threads", "solo")
# The file-system broker has no fan-out worth polling: these features only add chatter there.
EMBEDDED_WORKER_FLAGS = ("--without-gossip", "--without-mingle", "--without-heartbeat")
EMBEDDED_DEFAULT_CONCURRENCY = 2


def serve_worker_metrics(settings: Settings, port: int, pool: str) -> None:
    """Trading metrics are recorded in the worker; Prometheus scrapes them from here."""
    from autogrid.observability.metrics import (
        multiprocess_dir,
        prepare_multiprocess_dir,
        start_metrics_http_server,
    )

    if pool == "prefork" and multiprocess_dir() is None:
        raise click.ClickException(
            "a prefork worker's processes can only share metrics through a directory: set "
            "PROMETHEUS_MULTIPROC_DIR to an empty directory (or use --pool threads)"
        )
    prepare_multiprocess_dir()
    start_metrics_http_server(port, host=settings.worker_metrics_host)


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 256), default=None, help="[default: CPUs]")
@click.option(
    "--queues",
    default=None,
    help="Comma-separated queues [default: all: bot work and backtests]",
)
@click.option(
    "--pool",
    type=click.Choice(POOLS),
    default=None,
    help="[default: prefork with Redis, threads in the embedded mode]",
)
@click.option("--loglevel", default=None, help="[default: LOG_LEVEL]")
@click.option("--quiet", is_flag=True, help="No start-up banner.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65_535),
    default=None,
    help="Serve this worker host's Prometheus metrics on this port [default: WORKER_METRICS_PORT]",
)
def worker_command(
    concurrency: int | None,
    queues: str | None,
    pool: str | None,
    loglevel: str | None,
    quiet: bool,
    metrics_port: int | None,
) -> None:
    """Run a Celery worker."""
    settings = load_settings_or_exit()
    embedded = is_embedded(settings)
    app = create_celery(settings)
    if embedded:
        pool = pool or "threads"
        concurrency = concurrency or EMBEDDED_DEFAULT_CONCURRENCY
    metrics_port = metrics_port or settings.worker_metrics_port
    if metrics_port:
        serve_worker_metrics(settings, metrics_port, pool or "prefork")
    argv = [
        *(["--quiet"] if quiet else []),
        "worker",
        f"--loglevel={loglevel or settings.log_level}",
        f"--queues={queues or ','.join(worker_queues(settings))}",
        f"--pool={pool or 'prefork'}",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if embedded:
        argv.extend(EMBEDDED_WORKER_FLAGS)
    app.worker_main(argv)


@click.command("beat")
@click.option(
    "--lock-ttl",
    type=click.FloatRange(min=1),
    default=DEFAULT_LOCK_TTL_SECONDS,
    show_default=True,
    help="Seconds a crashed leader's lock outlives it before a standby takes over.",
)
@click.option("--loglevel", default=None, help="[default: LOG_LEVEL]")
@click.option("--quiet", is_flag=True, help="No start-up banner.")
def beat_command(lock_ttl: float, loglevel: str | None, quiet: bool) -> None:
    """Run the periodic-task scheduler; extra instances stand by (single leader)."""
    settings = load_settings_or_exit()
    app = create_celery(settings)
    app.conf[LOCK_TTL_CONF_KEY] = lock_ttl
    app.Beat(loglevel=loglevel or settings.log_level, scheduler=SCHEDULER_PATH, quiet=quiet).run()
