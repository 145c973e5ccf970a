"""Leader locks: at most one process at a time may act (today: the beat scheduler).

Two beat processes would send every periodic task twice. Each beat instance asks its lock
``hold()`` before every scheduling pass; only the holder schedules, the others stand by and take
over once the holder is gone.

- :class:`RedisLeaderLock` (whenever Redis is configured): a key holding the holder's token,
  set when free and extended when still ours in one Lua script, renewed by the holder several
  times per time to live. A holder that dies stops renewing, and a standby takes over when the key
  expires. A holder that cannot renew in time (Redis unreachable, the process paused or starved)
  stops acting before its key could have expired: ``still_held()`` compares a clock that keeps
  counting while the process is stopped or the machine suspended (``CLOCK_BOOTTIME``) with an
  expiry measured from *before* the renewal was sent, so two holders never overlap.
- :class:`FileLeaderLock` (the embedded mode, one machine): ``fcntl.flock`` on a file under
  ``VAR_DIR``. The kernel drops the lock when the holder's process ends, however it ends. Local
  file systems only (flock over NFS is not reliable).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

import redis

logger = logging.getLogger(__name__)

# Acquire when free, renew when already ours, refuse otherwise: one atomic step, so a holder
# whose key just expired and a standby that just took it cannot both believe they hold it.
_ACQUIRE_OR_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == false then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
elseif current == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
"""

_RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# The holder stops trusting its lock a little before the key can expire on the server: the
# request that set it may have taken time to arrive, and clocks tick at slightly different rates.
_SAFETY_FRACTION = 0.8

_BOOT_CLOCK: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def lock_clock() -> float:
    """Seconds on a clock that also counts while the machine is suspended.

    ``time.monotonic`` (CLOCK_MONOTONIC) stops during a suspend while Redis, elsewhere, keeps
    expiring keys: a holder woken up would think its lock still valid. CLOCK_BOOTTIME (Linux)
    does not stop; elsewhere monotonic is the best there is.
    """
    return time.clock_gettime(_BOOT_CLOCK) if _BOOT_CLOCK is not None else time.monotonic()


class LeaderLock(Protocol):
    @property
    def description(self) -> str: ...

    def hold(self) -> bool:
        """Acquire or keep the lock; True while this process may act as the leader."""
        ...

    def still_held(self) -> bool:
        """True if the lock, as last acquired or renewed, is still ours now (no I/O): asked
        right before each action, so a holder paused since ``hold()`` does not act."""
        ...

    def release(self) -> None:
        """Give the lock up now (a standby takes over without waiting for expiry)."""
        ...


def lock_token() -> str:
    """Identifies the holder in the lock's value: readable by an operator, unique per process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RedisLeaderLock:
    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        ttl_seconds: float,
        renew_interval: float | None = None,
        token: str | None = None,
        clock: Callable[[], float] = lock_clock,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        # Several renewals fit in the trusted part of the lifetime: one slow answer is harmless.
        self.renew_interval = renew_interval or ttl_seconds / 5
        if not 0 < self.renew_interval < ttl_seconds * _SAFETY_FRACTION:
            raise ValueError("renew_interval must be shorter than the trusted part of the ttl")
        self._client = client
        self.key = key
        self.ttl_seconds = ttl_seconds
        self.token = token or lock_token()
        self._clock = clock
        self._acquire_or_renew = client.register_script(_ACQUIRE_OR_RENEW)
        self._release_if_ours = client.register_script(_RELEASE_IF_OURS)
        self._trusted_until = 0.0
        self._next_renewal = 0.0

    @property
    def description(self) -> str:
        return f"redis key {self.key} (ttl {self.ttl_seconds:g}s, token {self.token})"

    def hold(self) -> bool:
        now = self._clock()
        if now < self._next_renewal and now < self._trusted_until:
            return True
        try:
            granted = self._acquire_or_renew(
                keys=[self.key], args=[self.token, int(self.ttl_seconds * 1000)]
            )
        except redis.RedisError as error:
            # Keep acting only for as long as nobody else can have taken the key.
            still_trusted = self._clock() < self._trusted_until
            logger.warning(
                "leader lock %s: Redis unreachable (%s); %s",
                self.key,
                error,
                "still within the lock's lifetime" if still_trusted else "standing by",
            )
            return still_trusted
        if granted:
            # Measured from before the request: the server's expiry is at least this late.
            self._trusted_until = now + self.ttl_seconds * _SAFETY_FRACTION
            self._next_renewal = now + self.renew_interval
            # An answer that took longer than the trusted lifetime (a stalled network, a paused
            # process) grants nothing usable: the key may already be someone else's.
            return self.still_held()
        self._trusted_until = 0.0
        self._next_renewal = 0.0
        return False

    def still_held(self) -> bool:
        return self._clock() < self._trusted_until

    def release(self) -> None:
        self._trusted_until = 0.0
        self._next_renewal = 0.0
        try:
            self._release_if_ours(keys=[self.key], args=[self.token])
        except redis.RedisError as error:
            logger.warning("leader lock %s: release failed (%s); it will expire", self.key, error)


class FileLeaderLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @property
    def description(self) -> str:
        return f"file lock {self.path}"

    def hold(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        # Who holds it, for an operator looking at the file; the flock itself is the lock.
        handle.seek(0)
        handle.truncate()
        handle.write(lock_token() + "\n")
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        # The kernel keeps the flock for as long as this process lives, paused or not.
        return self._file is not None

    def release(self) -> None:
        if self._file is None:
            return
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._file.close()
            self._file = None
