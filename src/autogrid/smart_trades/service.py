"""Smart trades: created and started at once, read with their orders and result, closed or
cancelled by their owner.

A smart trade is a bot of type ``smart_trade`` (``SmartTradeStrategy``): it takes the bots' way
through validation, plan limits, the lease, pre-trade risk and the order state machine, and
resumes after a restart like any bot. Closing it is a stop that sells what it holds at market;
cancelling it a stop that only cancels its orders (what was bought stays held). Services flush;
the request commits and then sends the bot's command.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import controls
from autogrid.bots import service as bots
from autogrid.bots.ledger import Ledger
from autogrid.bots.markets import MarketRulesProvider
from autogrid.bots.schemas import BotFields, SmartTradeBotCreate, stored_json, strategy_data
from autogrid.bots.smart_trade_params import SmartTradeParams
from autogrid.bots.state import parse_state
from autogrid.bots.transitions import BotTransition
from autogrid.core.errors import NotFound
from autogrid.core.pagination import PageParams
from autogrid.models import Bot, Order, UserIdentity
from autogrid.models.bot import BotStatus, BotType
from autogrid.orders import repository as orders
from autogrid.orders.schemas import OrderRead
from autogrid.smart_trades.schemas import Phase, SmartTradeCreate, SmartTradeDetail, SmartTradeRead
from autogrid.trading.strategies.smart_trade_state import SmartTradeState

MAX_ORDERS_SHOWN = 500  # a zone of 20 and 10 steps re-placed a few times stays far below


async def create(
    session: AsyncSession, user: UserIdentity, body: SmartTradeCreate, markets: MarketRulesProvider
) -> BotTransition:
    """The smart trade's bot, created and asked to start (its command is sent after commit)."""
    params = SmartTradeParams.model_validate(
        body.model_dump(include=set(SmartTradeParams.model_fields))
    )
    bot_body = SmartTradeBotCreate(
        name=body.name,
        mode=body.mode,
        credential_id=body.credential_id,
        paper=body.paper,
        tick_interval_seconds=body.tick_interval_seconds,
        breaker=body.breaker,
        exchange=body.exchange,
        symbol=body.symbol,
        config=params,
    )
    bot = await bots.create_bot(session, user, bot_body, markets, origin="the smart trade API")
    return await controls.start_bot(session, user, bot.id)


async def get_trade(session: AsyncSession, user: UserIdentity, trade_id: uuid.UUID) -> Bot:
    bot = await bots.get_bot(session, user, trade_id)
    if bot.type != BotType.SMART_TRADE:
        raise NotFound("smart trade not found")  # a bot of another kind is not a smart trade
    return bot


async def list_trades(
    session: AsyncSession, user: UserIdentity, page: PageParams
) -> tuple[list[SmartTradeRead], int]:
    rows, total = await bots.list_bots(session, user, page, types=[BotType.SMART_TRADE])
    return [trade_read(bot) for bot in rows], total


async def detail(
    session: AsyncSession, user: UserIdentity, trade_id: uuid.UUID
) -> SmartTradeDetail:
    bot = await get_trade(session, user, trade_id)
    rows, _ = await orders.list_bot_orders(
        session, bot.id, statuses=(), limit=MAX_ORDERS_SHOWN, offset=0
    )
    return trade_detail(bot, rows)


async def close(session: AsyncSession, user: UserIdentity, trade_id: uuid.UUID) -> BotTransition:
    """Cancel its orders and sell what it holds at market, now."""
    await get_trade(session, user, trade_id)
    return await controls.stop_bot(session, user, trade_id, cancel_orders=True, sell_base=True)


async def cancel(session: AsyncSession, user: UserIdentity, trade_id: uuid.UUID) -> BotTransition:
    """Cancel its orders; what it bought stays held."""
    await get_trade(session, user, trade_id)
    return await controls.stop_bot(session, user, trade_id, cancel_orders=True, sell_base=False)


# --- the views ----------------------------------------------------------------------------


def trade_detail(bot: Bot, rows: Sequence[Order]) -> SmartTradeDetail:
    ordered = sorted(rows, key=lambda order: (order.created_at, order.id))
    return SmartTradeDetail(
        **trade_read(bot).model_dump(),
        orders=[OrderRead.model_validate(order) for order in ordered],
    )


def trade_read(bot: BotFields) -> SmartTradeRead:
    state = parse_state(stored_json(bot.state))
    trade = SmartTradeState.from_dict(state.strategy) if state.strategy else SmartTradeState()
    ledger = Ledger.from_dict(state.ledger)
    status = BotStatus(bot.status)
    return SmartTradeRead(
        id=bot.id,
        name=bot.name,
        exchange=bot.exchange,
        symbol=bot.symbol,
        mode=bot.mode,
        credential_id=bot.credential_id,
        status=status,
        phase=_phase(status, trade, state.strategy is None),
        config=SmartTradeParams.model_validate(strategy_data(bot)),
        entry_price=trade.entry_price,
        bought=trade.bought,
        position=ledger.position,
        stop=trade.stop,
        stop_moved_to_break_even=trade.stop_moved,
        highest_price=trade.high,
        take_profits_done=sorted(trade.steps_done),
        exit=_exit(status, bot, trade, ledger.position),
        note=trade.note or bot.error,
        close_refusals=trade.refusals,
        close_retry_at=trade.retry_at,
        take_profit_refusals=trade.targets_backoff.refusals,
        take_profit_retry_at=trade.targets_backoff.retry_at if not trade.targets else None,
        realized_pnl=ledger.realized,
        error=bot.error,
        created_at=bot.created_at,
        started_at=bot.started_at,
        stopped_at=bot.stopped_at,
    )


def _phase(status: BotStatus, trade: SmartTradeState, undecided: bool) -> Phase:
    if trade.done or status == BotStatus.STOPPED:
        return Phase.CLOSED
    if status == BotStatus.STOPPING or trade.exit is not None:
        return Phase.CLOSING
    if undecided:
        return Phase.PENDING
    return Phase.OPEN if trade.holding.amount > 0 else Phase.ENTERING


def _exit(status: BotStatus, bot: BotFields, trade: SmartTradeState, held: Decimal) -> str | None:
    if trade.exit is not None:
        return trade.exit.value
    if status == BotStatus.STOPPED and bot.stop_initiator == "owner":
        return "manual_close" if trade.bought > 0 and held <= 0 else "cancelled"
    return None
