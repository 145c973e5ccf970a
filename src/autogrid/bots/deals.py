"""A DCA bot's deals (3Commas' word): read from the strategy's saved state, with their orders.

The strategy keeps the open deal's running totals and the last ``KEPT_DEALS`` closed deals in
the bot state's ``strategy``; older deals, and the orders of older deals, are not listed. Orders
belong to deal ``n`` by their tag (``D{n}.BO``, ``D{n}.SO{k}``, ``D{n}.TP{v}``, ``D{n}.EXIT``).
A restart keeps the deal history and numbering (``DcaStrategy.restart_state``), so a deal number
names one deal for the bot's life; should numbers ever repeat (a state reset by hand), a deal's
orders are those created since its own newest base order.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import deal_repository, repository
from autogrid.bots import service as bots
from autogrid.bots.deal_schemas import DealStatus
from autogrid.bots.ledger import roi_pct
from autogrid.bots.schemas import PriceSource
from autogrid.bots.state import BotState, load_state, paper_account_id
from autogrid.core.errors import Conflict
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.models import Bot, Order, UserIdentity
from autogrid.models.bot import BotMode, BotType
from autogrid.orders.values import tag_of
from autogrid.trading.strategies.dca_state import DcaState, DealRecord

OPEN_PHASES = frozenset({"opening", "in_deal", "closing"})


class NotADcaBot(Conflict):
    """Only DCA bots run deals; ``details.type`` is the bot's type."""

    code = "not_a_dca_bot"

    def __init__(self, bot: Bot) -> None:
        super().__init__(
            f"only DCA bots run deals; this is a {bot.type} bot", details={"type": bot.type}
        )


@dataclass(frozen=True, slots=True)
class Deal:
    number: int
    status: DealStatus
    opened_at: datetime
    closed_at: datetime | None
    duration_seconds: int
    close_reason: str | None
    base_price: Decimal | None
    average_entry: Decimal | None
    amount: Decimal
    cost: Decimal
    proceeds: Decimal
    profit: Decimal | None
    profit_percentage: Decimal | None
    safety_orders_filled: int
    take_profit_price: Decimal | None
    orders: tuple[Order, ...]
    take_profit_retry_at: datetime | None = None


async def list_deals(
    session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID, page: PageParams
) -> tuple[list[Deal], int]:
    """A page of the bot's deals, newest first (the open one leads), and how many there are."""
    bot = await bots.get_bot(session, user, bot_id)
    if bot.type != BotType.DCA:
        raise NotADcaBot(bot)
    state = saved_state(load_state(bot))
    if state is None:
        return [], 0
    every = newest_first(state)
    rows = every[page.offset : page.offset + page.limit]
    numbers = [state.deal if row is None else row.number for row in rows]
    by_deal = group_by_deal(await deal_repository.orders_of_deals(session, bot.id, numbers))
    now = await bot_now(session, bot, utcnow())
    deals = [
        open_deal(state, by_deal.get(state.deal, ()), now)
        if row is None
        else closed_deal(row, by_deal.get(row.number, ()))
        for row in rows
    ]
    return deals, len(every)


def saved_state(bot_state: BotState) -> DcaState | None:
    """The strategy's saved state; None before its first decision, or for a bot that runs only
    scheduled buys (its strategy saves no deals)."""
    saved = bot_state.strategy
    if saved is None or "deals" not in saved:
        return None
    return DcaState.from_dict(saved)


async def bot_now(session: AsyncSession, bot: Bot, wall_now: datetime) -> datetime:
    """The bot's own clock: a paper replay's deals are stamped with candle times, so its now is
    the candle time it has traded up to (its paper account has matched), not the wall clock.
    Not its last decision's: a deal waiting for its take profit decides nothing for days of
    candles, and its age stood still meanwhile."""
    replay = (
        bot.mode == BotMode.PAPER
        and (bot.paper or {}).get("price_source") == PriceSource.REPLAY.value
    )
    account_id = paper_account_id(bot)
    if not replay or account_id is None:
        return wall_now
    return await repository.paper_matched_until(session, account_id) or wall_now


def deal_number(tag: str | None) -> int | None:
    """``D12.SO3`` -> 12; None for a tag of no deal (a scheduled buy's)."""
    if tag is None or not tag.startswith("D"):
        return None
    number, dot, _ = tag[1:].partition(".")
    return int(number) if dot and number.isdigit() else None


def group_by_deal(orders: Iterable[Order]) -> dict[int, tuple[Order, ...]]:
    """Orders by deal number, in the order given (oldest first), each deal's from its newest base
    order on: a same-numbered deal of an earlier run was over before this one's base order."""
    grouped: dict[int, list[Order]] = defaultdict(list)
    for order in orders:
        number = deal_number(tag_of(order))
        if number is not None:
            grouped[number].append(order)
    return {number: _since_base_order(number, found) for number, found in grouped.items()}


def _since_base_order(number: int, orders: Sequence[Order]) -> tuple[Order, ...]:
    starts = [order.created_at for order in orders if tag_of(order) == f"D{number}.BO"]
    if not starts:
        return tuple(orders)
    # Times, not positions: orders of one decision may share a creation time.
    start = max(starts)
    return tuple(order for order in orders if order.created_at >= start)


def newest_first(state: DcaState) -> list[DealRecord | None]:
    """The kept closed deals, newest first, led by ``None`` standing for the open deal if any."""
    rows: list[DealRecord | None] = list(reversed(state.deals))
    if state.phase in OPEN_PHASES and state.opened_at is not None:
        rows.insert(0, None)
    return rows


def closed_deal(record: DealRecord, orders: Sequence[Order]) -> Deal:
    return Deal(
        number=record.number,
        status=DealStatus.CLOSED,
        opened_at=record.opened_at,
        closed_at=record.closed_at,
        duration_seconds=_seconds(record.opened_at, record.closed_at),
        close_reason=record.close_reason,
        base_price=record.base_price,
        average_entry=record.average_entry,
        amount=record.amount,
        cost=record.cost,
        proceeds=record.proceeds,
        profit=record.profit,
        profit_percentage=roi_pct(record.profit, record.cost),
        safety_orders_filled=record.safety_orders_filled,
        take_profit_price=None,
        orders=tuple(orders),
    )


def open_deal(state: DcaState, orders: Sequence[Order], now: datetime) -> Deal:
    assert state.opened_at is not None
    # The strategy's live take profit; a trailing take profit rests no order until it sells.
    resting = state.tp_live
    take_profit = next((o.price for o in orders if resting and tag_of(o) == resting), None)
    return Deal(
        number=state.deal,
        status=DealStatus.OPEN,
        opened_at=state.opened_at,
        closed_at=None,
        duration_seconds=_seconds(state.opened_at, now),
        close_reason=None,
        base_price=state.base_price,
        average_entry=state.average_entry,
        amount=state.bought_amount,
        cost=state.deal_cost,
        proceeds=state.deal_proceeds,
        profit=None,
        profit_percentage=None,
        safety_orders_filled=state.safety_filled,
        take_profit_price=take_profit,
        orders=tuple(orders),
        take_profit_retry_at=_waiting_until(state.tp_retry_at, now) if resting is None else None,
    )


def _waiting_until(retry_at: datetime | None, now: datetime) -> datetime | None:
    return retry_at if retry_at is not None and retry_at > now else None


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))
