"""/api/v1/bots: create, list, read, edit and delete bots; start, stop, pause and resume them;
a bot's event journal and a DCA bot's deals."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from autogrid.api.deps import ReadConnectionDep, SessionDep, SettingsDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.bots import controls, deals, from_backtest, service
from autogrid.bots.bot_reads import bot_read_of_row
from autogrid.bots.deal_schemas import DealRead
from autogrid.bots.dependencies import AfterCommitDep, MarketRulesDep
from autogrid.bots.funds import ExchangeAccess
from autogrid.bots.schemas import (
    AnyBotRead,
    BotCreateRequest,
    BotPage,
    BotRead,
    BotUpdate,
    StoppedBy,
    StopRequest,
    bot_read,
)
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import Page, PageDep
from autogrid.credentials.dependencies import ConnectorFactoryDep
from autogrid.events import service as events
from autogrid.events.router import AfterId
from autogrid.events.schemas import BotEventRead
from autogrid.events.types import EventType
from autogrid.models.bot import BotStatus, BotType
from autogrid.trading.strategies.dca_state import KEPT_DEALS

router = APIRouter(prefix="/bots", tags=["bots"])

# Repeated query filters (?status=a&status=b) are capped: each value becomes a bound parameter.
MAX_FILTER_VALUES = 20


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: _error("The plan's bot limit is reached (details: plan, limit, bots)"),
    404: _error("from_backtest_id: no such backtest of yours"),
    409: _error("from_backtest_id: the backtest has not succeeded (details.status)"),
    422: _error(
        "Invalid body; with from_backtest_id, a type, exchange, symbol or config given that "
        "differs from the backtest's (each difference in details, type conflicts_with_backtest)"
    ),
    503: _error("The exchange's market rules could not be loaded; retry"),
}
_STATUS_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _error("The bot's status forbids this (details.status is the current one)"),
}
_EDIT_ERRORS = {**_STATUS_CONFLICT, 503: _CREATE_ERRORS[503]}
_DEALS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The open deal (if any) first, then closed deals newest first. Only the "
        f"strategy's last {KEPT_DEALS} closed deals are kept: older deals and their orders are "
        "not listed"
    },
    409: _error("Not a DCA bot: only DCA bots run deals (details.type is the bot's type)"),
}


@router.post(
    "", response_model=BotRead, status_code=status.HTTP_201_CREATED, responses=_CREATE_ERRORS
)
async def create_bot(
    body: BotCreateRequest, user: CurrentUser, session: SessionDep, markets: MarketRulesDep
) -> AnyBotRead:
    """Create a bot (stopped), from a config or from a backtest's tested one."""
    return bot_read(await from_backtest.create_bot(session, user, body, markets))


@router.get("", response_model=BotPage)
async def list_bots(
    user: CurrentUser,
    reads: ReadConnectionDep,
    page: PageDep,
    bot_status: Annotated[
        list[BotStatus] | None,
        Query(alias="status", max_length=MAX_FILTER_VALUES, description="any of these statuses"),
    ] = None,
    bot_type: Annotated[
        list[BotType] | None,
        Query(alias="type", max_length=MAX_FILTER_VALUES, description="any of these types"),
    ] = None,
    stopped_by: Annotated[
        StoppedBy | None,
        Query(
            description="bot: those that stopped without their owner asking (an error, the "
            "breaker, the strategy, the replay's end, an order given up); owner: those you stopped"
        ),
    ] = None,
) -> BotPage:
    """List your bots, newest first."""
    bots, total = await service.list_bots(
        reads, user, page, statuses=bot_status or (), types=bot_type or (), stopped_by=stopped_by
    )
    return BotPage(
        items=[bot_read_of_row(bot) for bot in bots],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{bot_id}", response_model=BotRead)
async def get_bot(bot_id: uuid.UUID, user: CurrentUser, reads: ReadConnectionDep) -> AnyBotRead:
    """Read one of your bots."""
    return bot_read_of_row(await service.read_bot(reads, user, bot_id))


@router.patch("/{bot_id}", response_model=BotRead, responses=_EDIT_ERRORS)
async def update_bot(
    bot_id: uuid.UUID,
    body: BotUpdate,
    user: CurrentUser,
    session: SessionDep,
    markets: MarketRulesDep,
) -> AnyBotRead:
    """Rename a bot or change its tick; config, paper and breaker only while it is stopped."""
    return bot_read(await service.update_bot(session, user, bot_id, body, markets))


@router.delete("/{bot_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_STATUS_CONFLICT)
async def delete_bot(bot_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Delete a stopped bot with its orders, trades and events."""
    await service.delete_bot(session, user, bot_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_START_ERRORS: dict[int | str, dict[str, Any]] = {
    **_STATUS_CONFLICT,
    422: _error(
        "Invalid input; for a live DCA bot also: the free quote on the exchange is below its "
        "largest need, a full deal or one scheduled buy (code insufficient_funds; details: "
        "currency, needed, available), or the exchange refused its key (exchange_key_refused); "
        "for a paper replay bot: its candles are not stored or all played (candles_missing; "
        "details[0].loc names the symbol, paper.timeframe or paper.start)"
    ),
    502: _error("A live DCA bot's balance read got an unexpected answer from the exchange"),
    503: _error("A live DCA bot's balance could not be read: the exchange is not answering; retry"),
}


@router.post(
    "/{bot_id}/start",
    response_model=BotRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_START_ERRORS,
)
async def start_bot(
    bot_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    after_commit: AfterCommitDep,
    settings: SettingsDep,
    connectors: ConnectorFactoryDep,
    markets: MarketRulesDep,
) -> AnyBotRead:
    """Start a stopped bot (a live DCA bot if its balance covers it): starting until it runs."""
    exchange = ExchangeAccess(settings, connectors, markets)
    transition = await controls.start_bot(session, user, bot_id, exchange)
    after_commit.dispatch(transition.command)
    return bot_read(transition.bot)


@router.post(
    "/{bot_id}/stop",
    response_model=BotRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_STATUS_CONFLICT,
)
async def stop_bot(
    bot_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    after_commit: AfterCommitDep,
    body: StopRequest | None = None,
) -> AnyBotRead:
    """Stop a bot, by default cancelling its open orders: it is stopping until that is done."""
    options = body or StopRequest()
    transition = await controls.stop_bot(
        session, user, bot_id, cancel_orders=options.cancel_orders, sell_base=options.sell_base
    )
    after_commit.dispatch(transition.command)
    return bot_read(transition.bot)


@router.post("/{bot_id}/pause", response_model=BotRead, responses=_STATUS_CONFLICT)
async def pause_bot(
    bot_id: uuid.UUID, user: CurrentUser, session: SessionDep, after_commit: AfterCommitDep
) -> AnyBotRead:
    """Pause a running bot: no new orders; its resting orders stay."""
    transition = await controls.pause_bot(session, user, bot_id)
    after_commit.dispatch(transition.command)
    return bot_read(transition.bot)


@router.post("/{bot_id}/resume", response_model=BotRead, responses=_STATUS_CONFLICT)
async def resume_bot(
    bot_id: uuid.UUID, user: CurrentUser, session: SessionDep, after_commit: AfterCommitDep
) -> AnyBotRead:
    """Resume a paused bot."""
    transition = await controls.resume_bot(session, user, bot_id)
    after_commit.dispatch(transition.command)
    return bot_read(transition.bot)


@router.post("/{bot_id}/reset-breaker", response_model=BotRead, responses=_STATUS_CONFLICT)
async def reset_breaker(
    bot_id: uuid.UUID, user: CurrentUser, session: SessionDep, after_commit: AfterCommitDep
) -> AnyBotRead:
    """Reset a tripped circuit breaker: a halted bot runs again."""
    transition = await controls.reset_breaker(session, user, bot_id)
    after_commit.dispatch(transition.command)
    return bot_read(transition.bot)


@router.get("/{bot_id}/events", response_model=Page[BotEventRead])
async def list_events(
    bot_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    kind: Annotated[
        list[EventType] | None,
        Query(max_length=MAX_FILTER_VALUES, description="any of these types"),
    ] = None,
    after_id: AfterId = 0,
) -> Page[BotEventRead]:
    """A bot's event journal, newest first."""
    found, total = await events.list_bot_events(
        session, user, bot_id, page, types=kind or (), after_id=after_id
    )
    return Page[BotEventRead](
        items=[BotEventRead.of(event) for event in found],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{bot_id}/deals", response_model=Page[DealRead], responses=_DEALS_RESPONSES)
async def list_deals(
    bot_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[DealRead]:
    """A DCA bot's deals, the open one first, then newest first, each with its orders."""
    found, total = await deals.list_deals(session, user, bot_id, page)
    return Page[DealRead](
        items=[DealRead.model_validate(deal) for deal in found],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
