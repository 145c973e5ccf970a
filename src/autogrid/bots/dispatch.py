"""The hook the bot runtime plugs into: commands sent once the request's transaction committed.

A lifecycle route (start, stop, pause, resume, reset-breaker) changes the bot row, writes
an event, and hands a ``BotCommand`` to the ``BotDispatcher`` found at
``app.state.bot_dispatcher`` (a no-op until the runtime installs one). The command is sent by a
FastAPI background task, which runs only after the response, hence after ``SessionDep``
committed; a request that fails (and rolls back) sends nothing. So a worker never sees a command
whose row change is not yet visible, nor one that was rolled back.

A command carries ids only: the worker loads the bot in its own session. Delivery is at most once
(a crash between commit and send loses it): the row is the source of truth, and a periodic
sweep of bots left in ``starting``/``stopping`` is the runtime's safety net.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from fastapi import BackgroundTasks

logger = logging.getLogger(__name__)


class BotCommandKind(StrEnum):
    START = "start"
    STOP = "stop"  # options in the bot state's stop_request: cancel_orders, sell_base
    PAUSE = "pause"
    RESUME = "resume"
    RESET_BREAKER = "reset_breaker"
    SIGNAL = "signal"  # a signal was queued for the bot: its step acts on it


@dataclass(frozen=True, slots=True)
class BotCommand:
    bot_id: uuid.UUID
    kind: BotCommandKind
    # The bot's version after the change: a worker holding an older row knows it must reload.
    version: int


class BotDispatcher(Protocol):
    async def dispatch(self, command: BotCommand) -> None:
        """Hand the command to the runtime (e.g. send a Celery task). Called after commit."""
        ...


class NoopBotDispatcher:
    """Until the runtime exists: the status change is recorded and nothing else happens."""

    async def dispatch(self, command: BotCommand) -> None:
        logger.debug("no bot dispatcher installed; %s %s not sent", command.kind, command.bot_id)


NOOP_DISPATCHER = NoopBotDispatcher()


async def _send(dispatcher: BotDispatcher, command: BotCommand) -> None:
    try:
        await dispatcher.dispatch(command)
    except Exception:
        # The response has gone out; the row already says what should happen, and the runtime's
        # sweep of bots stuck in starting/stopping picks it up.
        logger.exception("bot command %s for bot %s was not sent", command.kind, command.bot_id)


@dataclass(slots=True)
class AfterCommit:
    """Queues commands to be dispatched after the request's transaction has committed."""

    background: BackgroundTasks
    dispatcher: BotDispatcher

    def dispatch(self, command: BotCommand | None) -> None:
        if command is not None:
            self.background.add_task(_send, self.dispatcher, command)
