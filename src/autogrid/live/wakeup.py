"""Wake-ups: "the journal has new events", announced after every commit that wrote one, so the
live feeds of every API process (on every host) read the journal now instead of at their next
poll.

``record_event`` marks its session; when that session commits, an SQLAlchemy ``after_commit``
hook hands a token to a background thread that publishes on a Redis channel, so a commit never
waits for Redis (or for the network, or an outage) and a rolled-back change announces nothing.
Announcements are best effort: a lost one delays delivery until the next poll, never loses an
event, because the feeds read what to deliver from the journal itself. Feeds of this same process
are woken directly too, which is all the embedded default (no Redis) has besides its poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from autogrid.core.config import Settings
from autogrid.core.redis import key as redis_key

logger = logging.getLogger(__name__)

_WRITTEN = "autogrid.live.journal_written"
PUBLISH_TIMEOUT_SECONDS = 2.0
# An unreachable Redis is logged at most this often, not on every commit.
FAILURE_LOG_EVERY_SECONDS = 60.0


def channel(settings: Settings) -> str:
    return redis_key(settings, "live", "journal")


def mark_written(session: Any) -> None:
    """Called by the journal's writers: this session's next commit announces new events."""
    session.info[_WRITTEN] = True


class Announcer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: tuple[str, str] | None = None  # (redis url, channel)
        self._pending: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._listeners: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []

    def configure(self, settings: Settings) -> None:
        """Announce through this deployment's Redis (none in the embedded default)."""
        with self._lock:
            self._target = (settings.redis_url, channel(settings)) if settings.redis_url else None

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the caller's event loop) after each local commit with events."""
        self._listeners.append((asyncio.get_running_loop(), callback))

    def remove_listener(self, callback: Callable[[], None]) -> None:
        self._listeners = [(loop, cb) for loop, cb in self._listeners if cb != callback]

    def announce(self) -> None:
        """Never blocks and never raises (it runs inside a commit): the token is published by
        the background thread."""
        try:
            for loop, callback in list(self._listeners):
                if not loop.is_closed():
                    loop.call_soon_threadsafe(callback)
            target = self._target
            if target is not None:
                self._ensure_thread()
                self._pending.put(target)
        except Exception:
            logger.exception("live events: announcing new events failed")

    def _ensure_thread(self) -> None:
        # A forked worker process inherits the object but not the thread.
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pending = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._publish_forever, name="live-announcer", daemon=True
                )
                self._thread.start()

    def _publish_forever(self) -> None:
        clients: dict[str, redis.Redis] = {}
        last_failure_log = 0.0
        while True:
            targets = {self._pending.get()}
            while not self._pending.empty():  # many commits, one announcement
                targets.add(self._pending.get_nowait())
            for url, name in targets:
                try:
                    client = clients.get(url)
                    if client is None:
                        client = clients[url] = redis.Redis.from_url(
                            url,
                            socket_timeout=PUBLISH_TIMEOUT_SECONDS,
                            socket_connect_timeout=PUBLISH_TIMEOUT_SECONDS,
                        )
                    client.publish(name, b"1")
                except redis.RedisError as error:
                    now = time.monotonic()
                    if now - last_failure_log >= FAILURE_LOG_EVERY_SECONDS:
                        last_failure_log = now
                        logger.warning(
                            "live events: announcing new events failed (%s); live streams fall"
                            " back to polling the journal",
                            type(error).__name__,
                        )


# One per process: SQLAlchemy's commit hook is process-wide, so the announcer it calls is too.
announcer = Announcer()


@event.listens_for(Session, "after_commit")
def _announce_after_commit(session: Session) -> None:
    if session.info.pop(_WRITTEN, False):
        announcer.announce()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
