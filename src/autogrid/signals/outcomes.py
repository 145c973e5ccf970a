"""The fate of a signal: a closed list, stored with every signal and shown by the API."""

from __future__ import annotations

from enum import StrEnum

from autogrid.signals.model import SignalAction


class SignalOutcome(StrEnum):
    ACCEPTED = "accepted"  # stored and waiting to be carried out on its target bots
    # Free text the grammar refused, taken for the language model to read in a worker (never
    # while the sender waits); then accepted, refused or unparsable like any other signal.
    INTERPRETING = "interpreting"
    EXECUTED = "executed"  # carried out on every target bot
    DUPLICATE = "duplicate"  # same alert id, or same body within the source's window: ignored
    STALE = "stale"  # arrived later than its max_lag after it was sent
    UNPARSABLE = "unparsable"  # no grammar understood it (``error_position`` says where)
    REFUSED = "refused"  # understood, but nothing here can do it (yet)
    REFUSED_BY_RISK = "refused_by_risk"  # an account or bot risk limit said no
    BOT_NOT_RUNNING = "bot_not_running"  # a target bot is stopped (or stopping)
    FORBIDDEN_IP = "forbidden_ip"  # posted from an address the source does not allow
    FAILED = "failed"  # tried and could not be done (``reason`` says why)


# Signals that act on another bot; the others (buy, sell...) need a signal bot, which is not
# there yet: they are refused, with that reason, never dropped in silence.
BOT_CONTROL_ACTIONS = frozenset(
    {SignalAction.PAUSE, SignalAction.RESUME, SignalAction.START_DEAL, SignalAction.CLOSE_DEAL}
)
NO_SIGNAL_BOT_YET = "no signal bot yet: only pause, resume, start_deal and close_deal act now"


def carried_out(action: SignalAction, opens_smart_trades: bool) -> bool:
    """Whether something here acts on ``action``: a bot control, or a buy on a source that
    opens smart trades."""
    return action in BOT_CONTROL_ACTIONS or (opens_smart_trades and action is SignalAction.BUY)


def overall(results: list[tuple[SignalOutcome, str | None]]) -> tuple[SignalOutcome, str | None]:
    """A signal's outcome from its targets': executed if every target did it, else the first
    target's outcome that is not ``executed`` (each target's own stays in ``results``)."""
    for outcome, reason in results:
        if outcome != SignalOutcome.EXECUTED:
            done = sum(1 for o, _ in results if o == SignalOutcome.EXECUTED)
            return outcome, f"{done} of {len(results)} target bots: {reason or outcome.value}"
    if not results:
        return SignalOutcome.FAILED, "the source has no target bot"
    return SignalOutcome.EXECUTED, None
