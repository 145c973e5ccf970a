"""A bot's start: its paper account opened if it trades on paper, then running.

The step opens the transactions; these write in them and flush. Between the two, the step brings
the books in line with the exchange (a full reconciliation) and sends what was left committed,
so a restart knows whether anything of the last run still rests on the exchange.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest.factory import strategy_from_params
from autogrid.bots import repository as bot_rows
from autogrid.bots.service import mark_running, stored_params
from autogrid.bots.state import load_state, store_state
from autogrid.engine import repository
from autogrid.engine.scope import StepAborted
from autogrid.exchanges.types import MarketRules
from autogrid.exchanges.venue import ensure_paper_account
from autogrid.models import Bot, BotStatus
from autogrid.trading.strategies.base import StrategyConfigError

# What of the bot's state belongs to one run only, and what to the strategy's own memory.
_PER_RUN_FIELDS = frozenset({"stop_sell", "start_pending"})
_STRATEGY_FIELDS = frozenset({"strategy", "wake", "live_tags", "decided_until"})


async def _still_starting(session: AsyncSession, bot_id: uuid.UUID) -> Bot:
    locked = await bot_rows.lock_bot_row(session, bot_id)
    if locked is None or locked.status != BotStatus.STARTING:
        raise StepAborted("no longer starting")
    return locked


async def open_paper_account(session: AsyncSession, bot_id: uuid.UUID, now: datetime) -> None:
    """The bot's paper account, opened at ``now`` unless it has one."""
    await ensure_paper_account(session, await _still_starting(session, bot_id), now)


async def begin_run(
    session: AsyncSession,
    bot_id: uuid.UUID,
    *,
    fresh: bool,
    kept: dict[str, Any] | None,
    now: datetime,
) -> None:
    """starting -> running, the last run's per-run state dropped, and a tick due at once.
    ``fresh``: nothing of the last run rests on the exchange, so the strategy starts afresh
    (a grid re-lays its ladder) keeping only ``kept``; the ledger keeps the bot's whole history."""
    locked = await _still_starting(session, bot_id)
    dropped = set(_PER_RUN_FIELDS)
    if fresh:
        dropped |= _STRATEGY_FIELDS
    state = load_state(locked).model_copy(update=dict.fromkeys(dropped))
    if kept is not None:
        state.strategy = kept
    store_state(locked, state)
    await mark_running(session, locked)
    await repository.schedule_now(session, bot_id, now)


def carried_over(bot: Bot, market: MarketRules | None) -> dict[str, Any] | None:
    """The part of the last run's strategy state a fresh start keeps, for strategies that say
    (``restart_state``: a DCA bot's deal history and numbering); None for the others."""
    old = load_state(bot).strategy
    if not old or market is None:
        return None
    try:
        strategy = strategy_from_params(stored_params(bot), market)
    except StrategyConfigError:
        return None  # the bot fails at its first decision, saying why
    restart = getattr(strategy, "restart_state", None)
    kept: dict[str, Any] | None = restart(old) if restart is not None else None
    return kept
