"""The order manager: what execution works with for one bot's orders. It writes in the
caller's transaction (``OrderWriter``) and holds what the verbs need: the one choke point back
(``Transitions``), the exchange connector and the policy for unknown outcomes. The verbs are
functions of the module that does each (the package docstring says which), called with it:
``submit.submit(manager, order_id)``, ``cancel.request_cancel(manager, order_id)``..."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.base import ExchangeConnector
from autogrid.execution.order_writer import BotRef, OrderWriter
from autogrid.execution.transitions import Applied, Step, Transitions
from autogrid.trading.orders import UnknownPolicy

T = TypeVar("T")


class OrderManager(OrderWriter):
    def __init__(
        self,
        database: Database,
        connector: ExchangeConnector,
        bot: BotRef,
        *,
        policy: UnknownPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(bot)
        self.database = database
        self.connector = connector
        self.policy = policy or UnknownPolicy()
        self.clock = clock
        self.transitions = Transitions(database, self, clock)

    async def apply(
        self, order_id: uuid.UUID, step: Step, *, with_trade_ids: bool = False
    ) -> Applied | None:
        """Our own decision applied to the order (raises IllegalTransition if refused)."""
        return await self.transitions.apply(order_id, step, with_trade_ids=with_trade_ids)

    async def want_cancel(self, order_id: uuid.UUID) -> None:
        await self.transitions.want_cancel(order_id)

    async def read(self, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await self.transitions.read(query)
