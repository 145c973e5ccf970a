"""One event loop and one database pool per worker process, kept between backtest run tasks.

A sweep's runs are short (an indicator over a month walks in milliseconds), and a run task in a
fresh event loop had to connect to the database anew each time: the connection and SQLAlchemy's
first-connect queries cost more than the run itself. A prefork worker's child runs one task at a
time, so it keeps one loop and one small pool (pre-pinged: a connection the server dropped is
replaced, not failed) for all of them.

Kept per thread: each thread of a threads pool (the embedded ``autogrid dev`` worker runs two)
gets a loop and pool of its own, since one loop cannot run two tasks at once; sharing one, the
second of two chunks running together failed and left its runs queued until they were re-sent.
Made lazily in the process that runs the task, never inherited across a fork (a parent's loop
and connections are not the child's). Anything escaping a task's coroutine (a time limit that
struck between two awaits, say) may leave the loop mid-step: both are dropped then, and the next
task starts afresh.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from autogrid.core.config import Settings
from autogrid.core.db import Database

logger = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(slots=True)
class _Kept:
    pid: int
    url: str
    loop: asyncio.AbstractEventLoop
    database: Database


class _PerThread(threading.local):
    kept: _Kept | None = None


class KeptLoop:
    """Each thread's loop and pool (see the module): ``run``, ``database`` and ``drop`` are of
    the calling thread's."""

    def __init__(self) -> None:
        self._local = _PerThread()

    @property
    def database(self) -> Database | None:
        """The calling thread's kept pool, if one is kept now."""
        kept = self._local.kept
        return None if kept is None else kept.database

    def run(self, settings: Settings, work: Callable[[Database], Coroutine[Any, Any, R]]) -> R:
        kept = self._local.kept
        if kept is None or kept.pid != os.getpid() or kept.url != settings.database_url:
            self.drop()
            loop = asyncio.new_event_loop()
            kept = _Kept(os.getpid(), settings.database_url, loop, Database.from_settings(settings))
            self._local.kept = kept
        try:
            return kept.loop.run_until_complete(work(kept.database))
        except BaseException:
            self.drop()
            raise

    def drop(self) -> None:
        """Close the calling thread's loop and pool (if this process made them); its next run
        makes new."""
        kept, self._local.kept = self._local.kept, None
        if kept is None or kept.pid != os.getpid():
            return  # none, or the parent's: not ours to close
        try:
            kept.loop.run_until_complete(kept.database.dispose())
        except Exception:  # a loop left mid-step: its connections go with it
            logger.warning("the kept database pool could not be closed cleanly", exc_info=True)
        finally:
            kept.loop.close()


# One per worker process (a loop and pool per thread of it), like the candle cache it serves.
WORKER_LOOP = KeptLoop()
