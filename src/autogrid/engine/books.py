"""The bot's books during one step: its live orders and waiting fills, kept in line with the
exchange (``reconcile.sync_orders``) and re-read only when the order manager wrote since.

Phases read the live orders through here (``current_live``) instead of querying again; a phase
that executed orders hands the fresh rows back (``set_live``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.state import load_state
from autogrid.engine.leasing import LeaseKeeper
from autogrid.exchanges.venue import Venue
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.reconcile import load_live, sync_orders
from autogrid.models import Bot
from autogrid.orders import store as repo
from autogrid.orders.values import OrderView, not_before
from autogrid.trading.orders import OrderStatus


class Books:
    def __init__(self, bot_id: uuid.UUID, lease: LeaseKeeper) -> None:
        self.bot_id = bot_id
        self.lease = lease
        self._orders: OrderManager | None = None
        self._venue: Venue | None = None
        # The bot's non-terminal orders, as last read, and the manager's writes at that time.
        self.live: list[OrderView] = []
        self.live_writes = -1
        self.inbox_waiting = 0
        self.inbox_writes = -1
        # A sync found the books in line with a reachable exchange (the dirty mark can go).
        self.found_clean = False

    def bind(self, orders: OrderManager, venue: Venue) -> None:
        """The step's order manager and venue (again after the venue was opened anew)."""
        self._orders, self._venue = orders, venue

    @property
    def orders(self) -> OrderManager:
        assert self._orders is not None, "bind() first"
        return self._orders

    async def keep(self, bot: Bot, *, full: bool = False) -> list[str]:
        """Bring the bot's orders in line with the exchange (reconcile.sync_orders); the client
        order ids of the exchange's open orders that are not ours, for the step to report."""
        orders = self.orders
        await self.lease.keep()
        read = self.lease.take_read() if orders.writes == 0 else None
        if read is not None:
            live, self.inbox_waiting = read  # read with the lease, and nothing written since
        else:
            live, self.inbox_waiting = await orders.read(self._live_and_inbox)
        self.inbox_writes = orders.writes
        dirty = load_state(bot).books_dirty
        # A paper account changes only through this bot's ticks: after a tick that ended
        # cleanly, its orders are exactly ours and asking it again would tell nothing new.
        paper = self._venue is not None and self._venue.paper is not None
        trusted = paper and not self.lease.taken_over and not dirty
        found = await sync_orders(orders, full=full, live=live, ask_exchange=not trusted)
        if dirty and found.exchange_reachable:
            self.found_clean = True
        self.set_live(found.live)
        return list(found.unknown_exchange_orders)

    async def _live_and_inbox(self, session: AsyncSession) -> tuple[list[OrderView], int]:
        live = await repo.live_order_rows(session, self.bot_id)
        return live, await repo.inbox_size(session, self.bot_id)

    async def waiting_fills(self) -> int:
        """Fills recorded for the strategy and not seen by it yet."""
        if self.inbox_writes != self.orders.writes:
            bot_id = self.bot_id
            self.inbox_waiting = await self.orders.read(
                lambda session: repo.inbox_size(session, bot_id)
            )
            self.inbox_writes = self.orders.writes
        return self.inbox_waiting

    def set_live(self, rows: list[OrderView]) -> None:
        """``rows`` are fresh as of now (read after the manager's latest write)."""
        self.live, self.live_writes = rows, self.orders.writes

    async def current_live(self) -> list[OrderView]:
        if self.live_writes != self.orders.writes:
            self.set_live(await load_live(self.orders))
        return self.live

    def next_look(self, now: datetime, spacing: timedelta) -> timedelta | None:
        """How soon the live orders want another step, if at all: an order in flight is due for
        its next lookup, or a replacement for an order the exchange refused may be sent."""
        waits = [spacing] if any(o.status == OrderStatus.UNKNOWN for o in self.live) else []
        for order in self.live:
            due = not_before(order) if order.status == OrderStatus.NEW else None
            if due is not None:
                waits.append(max(due - now, timedelta(0)))
        return min(waits, default=None)
