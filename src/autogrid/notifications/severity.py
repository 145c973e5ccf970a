"""How much each event type matters, and what a new channel subscribes to by default.

A channel lets through the types it chose at or above its minimum severity; the mapping is
pure data, so the API documents it and tests can walk it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from autogrid.events.types import EventType


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}

# The bot needs a human, or trading stopped for everyone.
_ERRORS = {
    EventType.ERROR,
    EventType.BREAKER_TRIPPED,
    EventType.ORDER_NOT_PLACED,
    EventType.KILL_SWITCH_ENGAGED,
    EventType.BOT_STALLED,
    EventType.FLEET_STALLED,
}
# Worth a look: something was refused, skipped or surprising, or the bot stopped on its own.
_WARNINGS = {
    EventType.STOPPED,
    EventType.REPLAY_FINISHED,
    EventType.WAITING_FOR_DATA,
    EventType.STOP_SELL_SKIPPED,
    EventType.KILL_SWITCH_RELEASED,
    EventType.ORDER_REJECTED,
    EventType.ORDER_DENIED,
    EventType.ACCOUNT_LIMIT_REACHED,
    EventType.ORDER_ANOMALY,
    EventType.UNKNOWN_EXCHANGE_ORDER,
    EventType.SCHEDULED_BUY_SKIPPED,
    EventType.NOTIFICATION_CHANNEL_DISABLED,
    EventType.SIGNAL_REFUSED,
    EventType.STRATEGY_ACTION,
}

SEVERITY: dict[EventType, Severity] = {
    event_type: (
        Severity.ERROR
        if event_type in _ERRORS
        else Severity.WARNING
        if event_type in _WARNINGS
        else Severity.INFO
    )
    for event_type in EventType
}

# Errors, breaker trips, a bot that stopped, a deal closed, the daily summary, an entry an
# account limit refused, a signal that was not carried out and what a signal bot did on its own
# (its stop-loss sale): what most owners want pushed (a refusal nobody hears of is a silent
# failure), and, for administrators, the fleet stopping and resuming.
DEFAULT_EVENT_TYPES: tuple[EventType, ...] = (
    EventType.ERROR,
    EventType.BREAKER_TRIPPED,
    EventType.ORDER_NOT_PLACED,
    EventType.KILL_SWITCH_ENGAGED,
    EventType.BOT_STALLED,
    EventType.STOPPED,
    EventType.REPLAY_FINISHED,
    EventType.DEAL_CLOSED,
    EventType.DAILY_SUMMARY,
    EventType.ACCOUNT_LIMIT_REACHED,
    EventType.SIGNAL_REFUSED,
    EventType.STRATEGY_ACTION,
    EventType.FLEET_STALLED,
    EventType.FLEET_RECOVERED,
)


def effective_types(chosen: Iterable[EventType], min_severity: Severity) -> list[EventType]:
    """The chosen types a channel actually receives: those at or above its minimum severity."""
    return sorted(
        {event_type for event_type in chosen if SEVERITY[event_type].rank >= min_severity.rank}
    )
