"""Liveness, readiness and the Prometheus scrape endpoint (top-level paths, tag "ops").

/health answers as long as the process serves HTTP: an orchestrator restarts the container when it
fails, so it must not depend on the database (a database outage would otherwise restart every API
container in a loop). /ready says whether this instance can do useful work right now: the load
balancer stops routing to it while the database or the broker is down.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import text

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.errors import AppError, ErrorResponse
from autogrid.observability.metrics import render_latest

logger = logging.getLogger(__name__)

# Short enough that a probe with a 5 s timeout still gets an answer while a dependency hangs.
READY_CHECK_TIMEOUT_SECONDS = 2.0


class CheckStatus(StrEnum):
    OK = "ok"
    UNREACHABLE = "unreachable"
    # A broker scheme we do not know how to probe: reported, but does not fail readiness.
    UNCHECKED = "unchecked"


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyStatus(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, CheckStatus]


class NotReady(AppError):
    status_code = 503
    code = "not_ready"


async def _bounded(name: str, probe: Awaitable[Any]) -> CheckStatus:
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_SECONDS):
            await probe
    except Exception as error:  # any failure, a timeout included, means "not usable now"
        logger.warning("readiness check %s failed: %s: %s", name, type(error).__name__, error)
        return CheckStatus.UNREACHABLE
    return CheckStatus.OK


async def _select_one(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _ping(client: Redis) -> None:
    await client.ping()


async def _ping_url(url: str) -> None:
    timeout = READY_CHECK_TIMEOUT_SECONDS
    client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        await client.ping()
    finally:
        await client.aclose()


def _assert_writable(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # os.access lies on some mounts (read-only bind mounts, ACLs); writing a file does not.
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".ready-", delete=True) as probe:
        probe.write(b"ok")
        probe.flush()


async def _check_database(database: Database | None) -> CheckStatus:
    if database is None:
        return CheckStatus.UNREACHABLE
    return await _bounded("database", _select_one(database))


async def _check_redis(client: Redis | None, url: str) -> CheckStatus:
    return await _bounded("redis", _ping(client) if client is not None else _ping_url(url))


async def _check_broker(settings: Settings) -> CheckStatus:
    url = settings.broker_url
    scheme = urlsplit(url).scheme
    if scheme in {"redis", "rediss"}:
        return await _bounded("broker", _ping_url(url))
    if scheme == "filesystem":
        directory = settings.embedded_broker_dir
        return await _bounded("broker", asyncio.to_thread(_assert_writable, directory))
    return CheckStatus.UNCHECKED


async def run_readiness_checks(
    settings: Settings, database: Database | None, redis: Redis | None
) -> dict[str, CheckStatus]:
    """Probe every dependency concurrently; each check is bounded by a short timeout.

    Checks are named after what an operator must fix: "redis" covers REDIS_URL (rate limits and,
    by default, the Celery broker); "broker" appears only when the broker is something else.
    """
    checks: dict[str, Awaitable[CheckStatus]] = {"database": _check_database(database)}
    if settings.redis_url:
        checks["redis"] = _check_redis(redis, settings.redis_url)
    if settings.broker_url != settings.redis_url:
        checks["broker"] = _check_broker(settings)
    results = await asyncio.gather(*checks.values())
    return dict(zip(checks, results, strict=True))


router = APIRouter(tags=["ops"])


@router.get("/health", response_model=HealthStatus)
async def health() -> HealthStatus:
    """The process is up and serving HTTP (no dependency is checked)."""
    return HealthStatus()


@router.get(
    "/ready",
    response_model=ReadyStatus,
    responses={503: {"model": ErrorResponse, "description": "A dependency is unreachable"}},
)
async def ready(request: Request) -> ReadyStatus:
    """The database and the task broker are reachable, so this instance can take traffic."""
    state = request.app.state
    settings: Settings = state.settings
    checks = await run_readiness_checks(
        settings, getattr(state, "db", None), getattr(state, "redis", None)
    )
    down = [name for name, status in checks.items() if status is CheckStatus.UNREACHABLE]
    if down:
        raise NotReady(
            "; ".join(f"{name} unreachable" for name in down),
            details={"checks": {name: status.value for name, status in checks.items()}},
        )
    return ReadyStatus(checks=checks)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics() -> Response:
    """Prometheus exposition of HTTP, trading and process metrics (all workers merged)."""
    body, content_type = await asyncio.to_thread(render_latest)
    return Response(content=body, media_type=content_type)
