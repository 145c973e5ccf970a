"""Booking the realised P&L of fills no decision absorbs: a stopping, paused, halted or stopped
bot's (its stop's market sale, an order left resting), at the end of its step rather than when
it next decides, so the user's other bots see the day's loss at once (``risk.standing``)."""

from __future__ import annotations

from autogrid.engine.scope import StepScope
from autogrid.risk.standing import book_unseen_fills, unbooked_fills_waiting


async def book_waiting_fills(scope: StepScope) -> None:
    """The fills waiting in the bot's inbox, booked in a transaction of their own; none when
    the last booking saw them all already (a paused bot's fills wait for its resumption: its
    every tick would book them again, adding nothing)."""
    if unbooked_fills_waiting(scope.bot, await scope.books.waiting_fills()):
        async with scope.database.session_scope() as session:
            await book_unseen_fills(session, scope.bot.id, scope.clock())
