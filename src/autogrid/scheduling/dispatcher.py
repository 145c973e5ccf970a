"""The bots service's dispatcher hook, implemented with Celery.

Called after the request's transaction committed (``bots.dispatch.AfterCommit``): every lifecycle
command becomes "tick this bot now", because a tick reads the bot's status and does what it says
(start, stop, pause, resume, run after a breaker reset). The command itself carries nothing the
row does not: a lost message only delays the bot until the next claim (at most a second for a
starting or stopping bot), never loses the command.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any

from autogrid.bots.dispatch import BotCommand
from autogrid.core.config import Settings

logger = logging.getLogger(__name__)

TICK_BOT_TASK = "autogrid.scheduling.tasks.tick_bot"


class CeleryBotDispatcher:
    """``celery_app`` or ``settings`` (the app is then built on first use, not when the API
    starts: building it in embedded mode creates the broker's folders)."""

    def __init__(self, celery_app: Any = None, *, settings: Settings | None = None) -> None:
        if (celery_app is None) == (settings is None):
            raise ValueError("give a Celery app or the settings to build one")
        self.celery = celery_app
        self._settings = settings
        self._lock = threading.Lock()

    def celery_app(self) -> Any:
        """The Celery app (built on first use): the admin's fleet view asks the broker with it."""
        with self._lock:
            if self.celery is None:
                from autogrid.worker.celery_app import create_celery

                assert self._settings is not None
                self.celery = create_celery(self._settings)
            return self.celery

    async def dispatch(self, command: BotCommand) -> None:
        await self.request_tick(command.bot_id)
        logger.info("bot %s: %s sent to the runtime", command.bot_id, command.kind)

    async def request_tick(self, bot_id: uuid.UUID) -> None:
        # Sending talks to the broker synchronously: keep it off the event loop.
        await asyncio.to_thread(self._send, bot_id)

    def _send(self, bot_id: uuid.UUID) -> None:
        self.celery_app().send_task(TICK_BOT_TASK, args=[str(bot_id)])

    def close(self) -> None:
        if self.celery is not None:
            self.celery.close()
