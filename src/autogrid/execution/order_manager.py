"""The order manager: what the engine holds to act on one bot's orders. It writes in the
caller's transaction (``OrderWriter``); every other verb is a line into the module that does it
(the package docstring says which), all of them going back through ``Transitions``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.types import ExchangeTrade
from autogrid.execution import cancel, lookups, submit, trades
from autogrid.execution.order_writer import BotRef, OrderWriter
from autogrid.execution.transitions import Applied, Step, Transitions
from autogrid.trading.orders import ExchangeOrderReport, Outcome, UnknownPolicy

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

    async def read(self, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await self.transitions.read(query)

    async def submit(self, order_id: uuid.UUID) -> Outcome | None:
        return await submit.submit(self.transitions, self.connector, self.policy, order_id)

    async def request_cancel(self, order_id: uuid.UUID) -> None:
        await cancel.request_cancel(self.transitions, self.connector, self.policy, order_id)

    async def want_cancel(self, order_id: uuid.UUID) -> None:
        await self.transitions.want_cancel(order_id)

    async def send_cancel(self, order_id: uuid.UUID) -> None:
        await cancel.send_cancel(self.transitions, self.connector, self.policy, order_id)

    async def restart(self, order_id: uuid.UUID) -> None:
        await lookups.restart(self.transitions, self.connector, self.policy, order_id)

    async def look_up(self, order_id: uuid.UUID, *, depth: int = 0) -> None:
        await lookups.look_up(self.transitions, self.connector, self.policy, order_id, depth=depth)

    async def apply_report(self, order_id: uuid.UUID, report: ExchangeOrderReport) -> None:
        await lookups.apply_report(self.transitions, self.connector, self.policy, order_id, report)

    async def follow_up(
        self,
        order_id: uuid.UUID,
        outcome: Outcome,
        report: ExchangeOrderReport | None,
        *,
        depth: int = 0,
    ) -> None:
        await lookups.follow_up(
            self.transitions, self.connector, self.policy, order_id, outcome, report, depth=depth
        )

    async def fetch_trades(self, order_ids: Iterable[uuid.UUID]) -> int:
        return await trades.fetch_trades(self.transitions, self.connector, order_ids)

    async def record_trade(self, order_id: uuid.UUID, trade: ExchangeTrade) -> bool:
        return await trades.record_trade(self.transitions, order_id, trade)

    async def record_trades(self, found: Sequence[ExchangeTrade]) -> int:
        """Trades naming our client order ids (the paper exchange's); how many were new."""
        return await trades.record_trades_by_client_id(self.transitions, found)
