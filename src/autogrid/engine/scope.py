"""What a phase of the bot step works with: a small value the step hands down.

The step builds it once the venue is open and builds it again when it reloads the bot; a phase
reads from it, uses its services (the order manager, the books, the lease) and returns what
happened, so the step alone decides what comes next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from autogrid.core.db import Database
from autogrid.engine.books import Books
from autogrid.engine.context import RuntimeContext
from autogrid.engine.leasing import LeaseKeeper
from autogrid.exchanges.types import MarketRules
from autogrid.exchanges.venue import Venue
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import BotRef
from autogrid.models import Bot


class StepAborted(Exception):
    """The step cannot go on (the bot failed, or its status changed under it)."""


@dataclass(frozen=True, slots=True)
class StepScope:
    bot: Bot
    venue: Venue
    orders: OrderManager
    market: MarketRules
    books: Books
    lease: LeaseKeeper
    database: Database
    clock: Callable[[], datetime]


def order_manager_for(
    ctx: RuntimeContext, venue: Venue, bot: Bot, *, places_orders: bool
) -> OrderManager:
    """The step's order manager for ``bot`` on ``venue``."""
    ref = BotRef(
        bot.id,
        bot.user_id,
        bot.exchange,
        bot.symbol,
        replay=venue.replay,
        places_orders=places_orders,
    )
    return OrderManager(
        ctx.database, venue.connector, ref, policy=ctx.options.policy, clock=ctx.clock
    )
