"""The fate of a signal: a closed list, stored with every signal and shown by the API."""

from __future__ import annotations

from enum import StrEnum

from autogrid.signals.model import SignalAction


class SignalOutcome(StrEnum):
    ACCEPTED = "accepted"  # stored and waiting to be carried out on its target bots
    # Free text the grammar refused, taken for the language model to read in a worker (never
    # while the sender waits); then accepted, refused or unparsable like any other signal.
    INTERPRETING = "interpreting"
    # Handed to a target bot (a signal bot's trade, a DCA bot's deal) whose own step acts on it
    # under its lease; each target's own outcome replaces it there (``signals.deliveries``).
    QUEUED = "queued"
    EXECUTED = "executed"  # carried out on every target bot
    DUPLICATE = "duplicate"  # same alert id, or same body within the source's window: ignored
    STALE = "stale"  # arrived later than its max_lag after it was sent
    UNPARSABLE = "unparsable"  # no grammar understood it (``error_position`` says where)
    REFUSED = "refused"  # understood, but nothing here can do it (yet)
    REFUSED_BY_RISK = "refused_by_risk"  # an account or bot risk limit said no
    BOT_NOT_RUNNING = "bot_not_running"  # a target bot is stopped (or stopping)
    FORBIDDEN_IP = "forbidden_ip"  # posted from an address the source does not allow
    FAILED = "failed"  # tried and could not be done (``reason`` says why)


# Signals a target bot's own step carries out (queued for it): a signal bot's trades, a DCA
# bot's deals. Pause and resume change the bot's status from the signal's worker.
TRADING_ACTIONS = frozenset(
    {SignalAction.BUY, SignalAction.SELL, SignalAction.CLOSE_ALL, SignalAction.REVERSE}
)
DEAL_ACTIONS = frozenset({SignalAction.START_DEAL, SignalAction.CLOSE_DEAL})


def overall(results: list[tuple[SignalOutcome, str | None]]) -> tuple[SignalOutcome, str | None]:
    """A signal's outcome from its targets': queued while a target bot has yet to act on it,
    executed if every target did it, else the first target's outcome that is not ``executed``
    (each target's own stays in ``results``)."""
    if any(outcome == SignalOutcome.QUEUED for outcome, _ in results):
        return SignalOutcome.QUEUED, None
    for outcome, reason in results:
        if outcome != SignalOutcome.EXECUTED:
            done = sum(1 for o, _ in results if o == SignalOutcome.EXECUTED)
            return outcome, f"{done} of {len(results)} target bots: {reason or outcome.value}"
    if not results:
        return SignalOutcome.FAILED, "the source has no target bot"
    return SignalOutcome.EXECUTED, None
