"""The beat scheduler that refuses to run twice.

Celery's documentation says to "ensure only a single scheduler is running": two beats send every
periodic task twice. Any number of ``autogrid beat`` (or ``celery beat``) processes may run; each
asks its leader lock before every scheduling pass, only the holder sends tasks, the others stand
by and take over when it stops (see :mod:`autogrid.worker.locks`).

Fail-over is quick: the lock lives a few seconds (``DEFAULT_LOCK_TTL_SECONDS``), the leader renews
it five times per lifetime and a standby asks as often, so when a leader dies its ticks stop for
at most about a lifetime plus two polls (3.5 s by default) before the standby sends what is due.
Never two at once: the leader checks, right before sending each task, that its lock is still
valid by its own clock (``still_held``), so a leader paused or cut off from Redis goes quiet
before a standby can take the lock. Scheduled effects are still idempotent, as a last resort (a
send that blocks on the broker after that check, say).

The schedule lives in memory, not in Celery's shelve file: standbys on one host would otherwise
open the same file, and Celery deletes a schedule file it cannot open. After a restart, interval
entries start counting afresh and crontab entries fire at their next time; missed runs are not
replayed, which periodic trading jobs (reconcile, tick) do not need because each run looks at the
current state.

The leader also runs the fleet watchdog (:mod:`autogrid.worker.fleet_watch`): whether the
workers consume is observed from here, outside them.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.beat import Scheduler

from autogrid.core.config import Settings
from autogrid.core.redis import key
from autogrid.worker.base import settings_of
from autogrid.worker.fleet_watch import FleetWatchdog
from autogrid.worker.locks import FileLeaderLock, LeaderLock, RedisLeaderLock

logger = logging.getLogger(__name__)

LOCK_TTL_CONF_KEY = "autogrid_beat_lock_ttl"
# Short, for a quick fail-over; a leader renews every fifth of it, so it must go without an
# answer from Redis (or without CPU) for 2 s of the 2.5 before it stops scheduling.
DEFAULT_LOCK_TTL_SECONDS = 2.5


def redis_url_for_lock(settings: Settings) -> str | None:
    if settings.redis_url:
        return settings.redis_url
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return None


def build_leader_lock(settings: Settings, ttl_seconds: float) -> LeaderLock:
    """Redis whenever the deployment has one (beats on several hosts); else a file lock."""
    url = redis_url_for_lock(settings)
    if url is None:
        return FileLeaderLock(settings.var_dir / "beat.lock")
    # A renewal stuck longer than the lock's lifetime would be useless anyway.
    timeout = max(0.5, ttl_seconds / 2)
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return RedisLeaderLock(
        client,
        key(settings, "beat", "leader"),
        ttl_seconds=ttl_seconds,
        renew_interval=lock_check_interval(ttl_seconds),
    )


def lock_check_interval(ttl_seconds: float) -> float:
    """How often the leader renews and a standby asks: five times per lifetime."""
    return ttl_seconds / 5


class SingleInstanceScheduler(Scheduler):  # type: ignore[misc]  # celery ships no type hints
    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        ttl = float(app.conf.get(LOCK_TTL_CONF_KEY) or DEFAULT_LOCK_TTL_SECONDS)
        self.leader_lock = build_leader_lock(settings_of(app), ttl)
        # Renew well within the lifetime; a standby retries as often, so a takeover after a crash
        # happens at most this long after the old key expires (or the old holder's flock ends).
        self.lock_check_interval = lock_check_interval(ttl)
        self.is_leader = False
        self._standby_announced = False
        self.fleet_watchdog = FleetWatchdog(app, settings_of(app))
        super().__init__(app, *args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.leader_lock.hold():
            if self.is_leader:
                logger.error("beat: lost %s; standing by", self.leader_lock.description)
            elif not self._standby_announced:
                logger.warning(
                    "beat: another instance holds %s; standing by", self.leader_lock.description
                )
            self.is_leader = False
            self._standby_announced = True
            return self.lock_check_interval
        if not self.is_leader:
            logger.warning("beat: acquired %s; scheduling", self.leader_lock.description)
            self.is_leader = True
            self._standby_announced = False
        next_pass: float = super().tick(*args, **kwargs)
        self.fleet_watchdog.maybe_check()
        return min(next_pass, self.lock_check_interval)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        # The pass began with hold(); the process may have been paused or starved since. Sending
        # now could overlap a standby that took the expired lock meanwhile.
        if not self.leader_lock.still_held():
            if self.is_leader:
                logger.error(
                    "beat: %s expired before %s could be sent; standing by",
                    self.leader_lock.description,
                    entry.name,
                )
            self.is_leader = False
            return
        super().apply_entry(entry, producer=producer)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.is_leader:
                logger.warning("beat: releasing %s", self.leader_lock.description)
            self.leader_lock.release()
            self.is_leader = False
