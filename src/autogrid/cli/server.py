"""``autogrid serve``: the production API under uvicorn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click
import uvicorn

from autogrid.cli.startup import load_settings_or_exit
from autogrid.core.config import Settings
from autogrid.live import socket as live_socket

if TYPE_CHECKING:
    from fastapi import FastAPI

APP_FACTORY = "autogrid.cli.server:create_served_app"
PROMETHEUS_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
GRACEFUL_SHUTDOWN_SECONDS = 10


def prepare_metrics_for_workers(settings: Settings, workers: int) -> None:
    """Several API processes share one metrics directory, emptied of a previous run's files.

    prometheus_client reads the variable when it is imported, so it is set here, before uvicorn
    starts the worker processes (which inherit it) and before our metrics module is imported.
    """
    if workers <= 1:
        # One process: a directory given from outside may be shared with other processes (the
        # worker under `autogrid dev`), whose files must not be wiped.
        return
    if not os.environ.get(PROMETHEUS_MULTIPROC_ENV):
        os.environ[PROMETHEUS_MULTIPROC_ENV] = str((settings.var_dir / "prometheus").resolve())
    from autogrid.observability.metrics import prepare_multiprocess_dir  # after the variable

    prepare_multiprocess_dir()


def create_served_app() -> FastAPI:
    """The app each server process runs: its start-up heap frozen out of the cyclic collector,
    whose full passes over it stopped the event loop for a quarter of a second."""
    from autogrid.app import create_app  # after prepare_metrics_for_workers set the variable

    return create_app(freeze_heap_after_startup=True)


@click.command("serve")
@click.option("--host", default=None, help="Bind address [default: HOST setting]")
@click.option("--port", type=click.IntRange(1, 65_535), default=None, help="[default: PORT]")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
def serve_command(host: str | None, port: int | None, workers: int) -> None:
    """Serve the HTTP API (uvicorn)."""
    # Loaded here, before any worker process exists: validates the configuration once and, in
    # development, generates the secrets file before several processes could race to create it.
    settings = load_settings_or_exit()
    prepare_metrics_for_workers(settings, workers)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ws_max_size=live_socket.MAX_FRAME_BYTES,
        ws_ping_interval=live_socket.PING_INTERVAL_SECONDS,
        ws_ping_timeout=live_socket.PING_TIMEOUT_SECONDS,
    )
