"""Redis access: one client per process, and key names under the deployment's prefix."""

from __future__ import annotations

from redis.asyncio import Redis

from autogrid.core.config import Settings


def create_redis(settings: Settings) -> Redis | None:
    """A client for REDIS_URL, or None in the embedded default where no Redis runs."""
    if not settings.redis_url:
        return None
    return Redis.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
    )


def key(settings: Settings, *parts: str) -> str:
    return settings.redis_key_prefix + ":".join(parts)
