"""The bot's status machine: which action may move a bot from which status to which (pure).

Users act through the API (start, stop, pause, resume, reset the breaker); the runtime reports
what actually happened (started, stopped, breaker tripped, failed). Both go through this one
table, so a status can only change along an edge listed here::

    action           from                                      to
    start            stopped                                   starting
    stop             starting, running, paused, halted, error, stopping
                     stopping
    pause            running                                   paused
    resume           paused                                    running
    reset_breaker    halted                                    running
                     stopped (breaker tripped)                 stopped
    --- reported by the runtime ---
    confirm_started  starting                                  running
    confirm_stopped  stopping                                  stopped
    trip_breaker     starting, running, paused                 halted
    fail             starting, running, paused, halted,        error
                     stopping

Configuration (config, paper, breaker) may change, and a bot may be deleted, only while stopped.
A stop of a stopping bot replaces its stop request and wakes the runtime again: a stop that cannot
finish as asked (a sale that cannot fill) is never a dead end, its owner can ask for less.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from autogrid.models.bot import BotStatus


class BotAction(StrEnum):
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    RESET_BREAKER = "reset_breaker"
    CONFIRM_STARTED = "confirm_started"
    CONFIRM_STOPPED = "confirm_stopped"
    TRIP_BREAKER = "trip_breaker"
    FAIL = "fail"


_S = BotStatus

TRANSITIONS: Mapping[BotAction, Mapping[BotStatus, BotStatus]] = {
    BotAction.START: {_S.STOPPED: _S.STARTING},
    BotAction.STOP: {
        status: _S.STOPPING
        for status in (_S.STARTING, _S.RUNNING, _S.PAUSED, _S.HALTED, _S.ERROR, _S.STOPPING)
    },
    BotAction.PAUSE: {_S.RUNNING: _S.PAUSED},
    BotAction.RESUME: {_S.PAUSED: _S.RUNNING},
    BotAction.RESET_BREAKER: {_S.HALTED: _S.RUNNING, _S.STOPPED: _S.STOPPED},
    BotAction.CONFIRM_STARTED: {_S.STARTING: _S.RUNNING},
    BotAction.CONFIRM_STOPPED: {_S.STOPPING: _S.STOPPED},
    BotAction.TRIP_BREAKER: {status: _S.HALTED for status in (_S.STARTING, _S.RUNNING, _S.PAUSED)},
    BotAction.FAIL: {
        status: _S.ERROR for status in (_S.STARTING, _S.RUNNING, _S.PAUSED, _S.HALTED, _S.STOPPING)
    },
}

# Where the strategy's configuration may change and the bot may be deleted.
EDITABLE_STATUSES: frozenset[BotStatus] = frozenset({_S.STOPPED})


class IllegalTransition(Exception):
    def __init__(self, action: BotAction, status: BotStatus) -> None:
        self.action = action
        self.status = status
        self.allowed_from = tuple(TRANSITIONS[action])
        super().__init__(
            f"cannot {action.value.replace('_', ' ')} a bot that is {status.value}"
            f" (allowed from: {', '.join(s.value for s in self.allowed_from)})"
        )


def next_status(action: BotAction, current: BotStatus) -> BotStatus:
    """The status ``action`` leads to from ``current``; IllegalTransition if it may not."""
    target = TRANSITIONS[action].get(current)
    if target is None:
        raise IllegalTransition(action, current)
    return target
