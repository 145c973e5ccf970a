"""Leader locks: at most one process at a time may act (today: the beat scheduler).

Two beat processes would send every periodic task twice. Each beat instance asks its lock
``hold()`` before every scheduling pass; only the holder schedules, the others stand by and take
over once the holder is gone.

- :class:`RedisLeaderLock` (whenever Redis is configured): ``SET NX PX`` with a random token,
  renewed by the holder every third of its time to live. A holder that dies stops renewing, and
  a standby takes over when the key expires. A holder that cannot reach Redis stops acting before
  its key could have expired, so two holders never overlap by the lock's own clock.
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


class LeaderLock(Protocol):
    @property
    def description(self) -> str: ...

    def hold(self) -> bool:
        """Acquire or keep the lock; True while this process may act as the leader."""
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
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
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

    @property
    def renew_interval(self) -> float:
        return self.ttl_seconds / 3

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
            return True
        self._trusted_until = 0.0
        self._next_renewal = 0.0
        return False

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

    def release(self) -> None:
        if self._file is None:
            return
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._file.close()
            self._file = None
