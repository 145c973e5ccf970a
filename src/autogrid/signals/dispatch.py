"""Sending an accepted signal to the workers, after the request committed it.

The message carries the signal's id only; the worker locks the row and carries it out once
(``autogrid.signals.execution``). A message lost between commit and send only delays it: a beat
sweep sends the accepted signals that waited too long again (``tasks.sweep_signals``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)

EXECUTE_SIGNAL_TASK = "autogrid.signals.tasks.execute_signal"


class SignalDispatcher(Protocol):
    async def dispatch(self, signal_id: int) -> None: ...


class CelerySignalDispatcher:
    """Sends through the Celery app the bot dispatcher builds on first use (``celery_app``)."""

    def __init__(self, celery_app: Callable[[], Any]) -> None:
        self._celery_app = celery_app

    async def dispatch(self, signal_id: int) -> None:
        # Sending talks to the broker synchronously: keep it off the event loop.
        await asyncio.to_thread(self._send, signal_id)

    def _send(self, signal_id: int) -> None:
        self._celery_app().send_task(EXECUTE_SIGNAL_TASK, args=[signal_id])


class NoopSignalDispatcher:
    async def dispatch(self, signal_id: int) -> None:
        logger.debug("no signal dispatcher installed; signal %s waits for the sweep", signal_id)


async def send_after_commit(dispatcher: SignalDispatcher, signal_id: int) -> None:
    try:
        await dispatcher.dispatch(signal_id)
    except Exception:
        # The answer has gone out and the signal is stored as accepted: the sweep sends it.
        logger.exception("signal %s was not sent to the workers; the sweep will", signal_id)
