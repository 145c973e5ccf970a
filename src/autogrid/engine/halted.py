"""A halted bot's step (its books already kept in sync by the step): nothing new ever sent.

Orders written but not sent yet are denied (the breaker tripped after they were decided), and
the open ones are cancelled if the bot's breaker settings say so. Cancels always go through.
"""

from __future__ import annotations

from autogrid.engine.guard import cancels_on_trip
from autogrid.engine.scope import StepScope
from autogrid.execution import cancel
from autogrid.execution.reconcile import execute_pending
from autogrid.trading.orders import OrderStatus, on_denied


async def keep_halted(scope: StepScope) -> None:
    books, orders = scope.books, scope.orders
    for order in books.live:
        if order.status == OrderStatus.NEW:
            await orders.apply(
                order.id, lambda state, _: on_denied(state, "circuit breaker tripped")
            )
    if cancels_on_trip(scope.bot):
        for order in await books.current_live():
            await cancel.request_cancel(orders, order.id)
    books.set_live(await execute_pending(orders, await books.current_live()))
