"""One event loop and one database pool per worker process, kept between backtest run tasks.

A sweep's runs are short (an indicator over a month walks in milliseconds), and a run task in a
fresh event loop had to connect to the database anew each time: the connection and SQLAlchemy's
first-connect queries cost more than the run itself. A prefork worker's child runs one task at a
time, so it keeps one loop and one small pool (pre-pinged: a connection the server dropped is
replaced, not failed) for all of them.

Made lazily in the process that runs the task, never inherited across a fork (a parent's loop
and connections are not the child's). Anything escaping a task's coroutine (a time limit that
struck between two awaits, say) may leave the loop mid-step: both are dropped then, and the next
task starts afresh.
"""

from __future__ import annotations

import asyncio
import logging
import os
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


class KeptLoop:
    """The process's loop and pool (see the module); ``run`` is called from one thread."""

    def __init__(self) -> None:
        self._kept: _Kept | None = None

    @property
    def database(self) -> Database | None:
        """The kept pool, if one is kept now."""
        return None if self._kept is None else self._kept.database

    def run(self, settings: Settings, work: Callable[[Database], Coroutine[Any, Any, R]]) -> R:
        kept = self._kept
        if kept is None or kept.pid != os.getpid() or kept.url != settings.database_url:
            self.drop()
            loop = asyncio.new_event_loop()
            kept = _Kept(os.getpid(), settings.database_url, loop, Database.from_settings(settings))
            self._kept = kept
        try:
            return kept.loop.run_until_complete(work(kept.database))
        except BaseException:
            self.drop()
            raise

    def drop(self) -> None:
        """Close the loop and its pool (if this process made them); the next run makes new."""
        kept, self._kept = self._kept, None
        if kept is None or kept.pid != os.getpid():
            return  # none, or the parent's: not ours to close
        try:
            kept.loop.run_until_complete(kept.database.dispose())
        except Exception:  # a loop left mid-step: its connections go with it
            logger.warning("the kept database pool could not be closed cleanly", exc_info=True)
        finally:
            kept.loop.close()


# One per worker process, like the candle cache it serves.
WORKER_LOOP = KeptLoop()
