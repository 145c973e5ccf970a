"""The closed list of event types: the API documents it as an enum and refuses anything else."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    # The bot's lifecycle (the API's commands and what the runtime reports).
    CREATED = "created"
    UPDATED = "updated"
    START_REQUESTED = "start_requested"
    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOP_REQUESTED = "stop_requested"
    STOPPED = "stopped"
    ERROR = "error"
    REPLAY_FINISHED = "replay_finished"
    WAITING_FOR_DATA = "waiting_for_data"
    STOP_SELL_SKIPPED = "stop_sell_skipped"
    # The circuit breaker, and the administrators' kill switch (account-level: no bot).
    BREAKER_TRIPPED = "breaker_tripped"
    BREAKER_RESET = "breaker_reset"
    KILL_SWITCH_ENGAGED = "kill_switch_engaged"
    KILL_SWITCH_RELEASED = "kill_switch_released"
    # An account limit of the owner refused an entry (journalled once per limit and UTC day).
    ACCOUNT_LIMIT_REACHED = "account_limit_reached"
    # One order's transitions, written where the transition is.
    ORDER_PLACED = "order_placed"  # sent to the exchange (the create call is under way)
    ORDER_ACKNOWLEDGED = "order_acknowledged"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_FILLED = "order_filled"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_EXPIRED = "order_expired"
    ORDER_REJECTED = "order_rejected"  # by the exchange, with its reason
    ORDER_DENIED = "order_denied"  # by our own checks (breaker, kill switch, market rules)
    ORDER_REPLACED = "order_replaced"  # never executed: placed again under a new client id
    ORDER_NOT_PLACED = "order_not_placed"  # attempts exhausted: the bot halts
    ORDER_ANOMALY = "order_anomaly"  # the exchange said something impossible (logged, kept)
    UNKNOWN_EXCHANGE_ORDER = "unknown_exchange_order"  # on the exchange, not in our records
    FILL = "fill"
    # A DCA bot's deals and recurring buys.
    DEAL_OPENED = "deal_opened"
    DEAL_CLOSED = "deal_closed"
    SCHEDULED_BUY_MADE = "scheduled_buy_made"
    SCHEDULED_BUY_SKIPPED = "scheduled_buy_skipped"
    # A bot that takes signals acted on its own, on no signal: a signal bot's stop-loss sold
    # its position, or take-profits below the market's minimums were not placed.
    STRATEGY_ACTION = "strategy_action"
    # Account-level: a notification channel was switched off after repeated delivery failures.
    NOTIFICATION_CHANNEL_DISABLED = "notification_channel_disabled"
    # The dead-man check: a running bot made no successful step for several of its intervals.
    BOT_STALLED = "bot_stalled"
    # External trading signals (autogrid.signals): one event per signal when it arrives, then one
    # per target bot when it is carried out. ``data`` always has ``signal_id``, ``source_id``
    # and ``outcome`` (a SignalOutcome), with ``action`` once parsed and ``reason`` if refused.
    SIGNAL_RECEIVED = "signal_received"  # accepted (or interpreting): carried out next
    SIGNAL_EXECUTED = "signal_executed"  # carried out on one target bot (bot_id set)
    SIGNAL_REFUSED = "signal_refused"  # duplicate, stale, unparsable, forbidden address, or a
    # target bot that is not running / could not do it (then bot_id is set)
    # Account-level, once per user and local day: trades, realised P&L and bots by status.
    DAILY_SUMMARY = "daily_summary"
    # Account-level, to every administrator: the worker fleet stopped consuming, and resumed.
    FLEET_STALLED = "fleet_stalled"
    FLEET_RECOVERED = "fleet_recovered"


# What needs a person: the administrators' "recent errors" view reads these across all users.
PROBLEM_TYPES = frozenset(
    {
        EventType.ERROR,
        EventType.BREAKER_TRIPPED,
        EventType.ORDER_NOT_PLACED,
        EventType.ORDER_REJECTED,
        EventType.ORDER_ANOMALY,
        EventType.UNKNOWN_EXCHANGE_ORDER,
        EventType.STOP_SELL_SKIPPED,
        EventType.BOT_STALLED,
        EventType.FLEET_STALLED,
    }
)

# A bot stopped or halted without its owner asking, whatever ``data.initiator`` says...
SELF_STOP_TYPES = frozenset(
    {
        EventType.ERROR,
        EventType.BREAKER_TRIPPED,
        EventType.ORDER_NOT_PLACED,
        EventType.REPLAY_FINISHED,
    }
)
# ...and the stop events, whose ``data.initiator`` ("owner" or "bot") says who asked.
STOP_TYPES = frozenset({EventType.STOP_REQUESTED, EventType.STOPPED})
