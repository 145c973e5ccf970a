"""Stepping a paper exchange the way the backtest engine steps candles.

For a replay account, every candle the replay clock has revealed is taken one at a time: advance
the exchange to that candle's close (its resting orders are matched against it), record the
trades, and let the strategy decide with the price at that close; what it places rests from the
next candle. So a paper replay bot makes exactly the trades a backtest over the same candles
makes. Quiet candles (no fill, no wake condition, no order that vanished) skip the decision, as
the backtest's skip-ahead does: the strategy contract promises that deciding would change nothing.
When the replay clock has passed the last stored candle, the replay is over (``Steps.ended``).
The step drives it (``replay_moments`` gives the moments, the step decides at each).

A live-priced paper account is advanced to the wall clock once per tick instead, and so is any
paper account while its bot is stopping: no decision is taken any more, but the orders still on
its book (the stop's market sell above all) fill as the exchange's clock moves on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from autogrid.engine.deciding import Moment
from autogrid.exchanges.paper import PaperExchange
from autogrid.exchanges.types import ExchangeTrade
from autogrid.execution import trades
from autogrid.execution.order_manager import OrderManager

logger = logging.getLogger(__name__)


async def apply_trades(manager: OrderManager, found: Sequence[ExchangeTrade]) -> int:
    """Record the paper exchange's trades against our orders (each trade id once)."""
    return await trades.record_trades_by_client_id(manager.transitions, found)


@dataclass(slots=True)
class Steps:
    mark: datetime | None  # the account's matched_until as far as we know (never ahead of it)
    stepped: int = 0  # candles matched this tick
    more: bool = False  # more were already revealed: tick again at once
    ended: bool = False  # every stored candle is matched: nothing more will ever be revealed


async def replay_moments(
    paper: PaperExchange,
    manager: OrderManager,
    steps: Steps,
    *,
    max_steps: int,
    keep_lease: Callable[[], Awaitable[None]],
) -> AsyncGenerator[Moment, None]:
    """The moments to decide at: the current close first, then each of up to ``max_steps``
    revealed candles once the account has matched it (its trades recorded). The caller stops
    asking once the bot no longer runs; ``steps`` says how far the replay got.

    The first moment raises NoPriceYet when nothing is matched yet: the first revealed candle
    is then the first decision. ``steps.mark``: a matched_until this process saw before. The
    account's is at least that (it only grows), so while the replay clock has not reached it
    plus one candle no new candle can be revealed, and the candle query is skipped (most ticks
    of a slow replay); nor, in a gap of the stored candles, before the next stored one closes.
    """
    symbol = manager.bot.symbol
    mark = steps.mark

    async def now_matched() -> tuple[datetime, Decimal]:
        return await paper.matched_until(), (await paper.fetch_ticker(symbol)).last

    yield now_matched
    if mark is not None and await paper.market_time() < await _next_reveal(paper, symbol, mark):
        return
    closes = await paper.visible_candle_closes(symbol, limit=max_steps)
    if not closes:
        steps.mark = mark or await paper.matched_until()
        # None revealed: the next one is still in the replay's future, or there is none.
        steps.ended = not await paper.replay_has_more(symbol)
        return
    for close in closes:
        await keep_lease()
        trades = await paper.advance(up_to=close)
        await apply_trades(manager, trades)
        steps.stepped += 1
        steps.mark = close

        async def at_close(close: datetime = close) -> tuple[datetime, Decimal]:
            return close, (await paper.fetch_ticker(symbol)).last

        yield at_close
    steps.more = len(closes) >= max_steps


async def _next_reveal(paper: PaperExchange, symbol: str, mark: datetime) -> datetime:
    """The earliest a candle after ``mark`` can be revealed: the next candle's close, or later
    if the stored candles have a gap there (the next stored one, as last found)."""
    due = mark + (await paper.config()).step
    stored = paper.next_stored_close(symbol)
    return max(due, stored) if stored is not None else due


async def catch_up(paper: PaperExchange, manager: OrderManager) -> int:
    """Match the paper account up to its price source's now (the wall clock for live prices,
    the replay clock for a replay) and record its trades: a live-priced bot's every tick, and
    every paper bot's while it is stopping."""
    return await apply_trades(manager, await paper.advance())
