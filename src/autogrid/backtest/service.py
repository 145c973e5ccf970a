"""Backtest rules: what may be submitted (limits, the strategy's own validation), ownership, and
the views of backtests (sweeps build on these in ``sweeps``). Services only flush; the request
commits, and the route sends the run tasks after that commit (``tasks.QueueAfterCommit``).

What a backtest row holds in ``params`` is everything its run needs, resolved at submission:
the request's fields, the fees actually used (the market's when the body gave none) and the
market rules the config was validated against (``market``). The worker never asks an exchange
anything, and a backtest re-read a year later still says exactly what it ran.

Limits (settings): a backtest may span at most ``backtest_max_candles`` candles (its range over
its timeframe, counted before anything is loaded; 422); a user may have at most
``backtest_max_active_per_user`` backtests or sweeps queued or running (a sweep counts once; 429);
a sweep may expand to at most ``backtest_max_sweep_runs`` runs (422).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest import repository
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.schemas import (
    AnyBacktestCreate,
    BacktestListItem,
    BacktestRead,
    DcaBacktestCreate,
    IndicatorBacktestCreate,
    SignalBacktestCreate,
)
from autogrid.backtest.signal_replay import SignalListError, signal_bot_from_config
from autogrid.backtest.signal_schemas import SignalReplayParams
from autogrid.bots.configs import DcaParams, StrategyParams
from autogrid.bots.markets import MarketRulesProvider, UnknownMarket
from autogrid.bots.validation import invalid
from autogrid.core.config import Settings
from autogrid.core.errors import AppError, Conflict, NotFound, ServiceUnavailable, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.errors import ExchangeError, TemporaryExchangeError
from autogrid.exchanges.types import MarketRules
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.models import UserIdentity
from autogrid.models.backtest import Backtest, BacktestStatus
from autogrid.observability.metrics import BACKTESTS
from autogrid.trading.strategies.base import StrategyConfigError

logger = logging.getLogger(__name__)


class BacktestLimitReached(AppError):
    """Too many backtests or sweeps in progress; ``details``: limit, active."""

    status_code = 429
    code = "backtest_limit_reached"


class BacktestStatusConflict(Conflict):
    """The backtest's status forbids the request; ``details.status`` is the current one."""

    code = "backtest_status_conflict"

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message, details={"status": status})


class RunRejected(ValueError):
    """A backtest its strategy or market refuses; ``loc`` is the field under the body."""

    def __init__(self, message: str, *loc: str) -> None:
        super().__init__(message)
        self.loc = loc


# --- submitting ---------------------------------------------------------------------------


async def create_backtest(
    session: AsyncSession,
    user: UserIdentity,
    body: AnyBacktestCreate,
    markets: MarketRulesProvider,
    limits: Settings,
) -> Backtest:
    check_range(body, limits)
    market = await market_rules(markets, body.exchange, body.symbol)
    try:
        params = run_params(body, market)
    except RunRejected as error:
        raise invalid(str(error), *error.loc, kind="strategy_config") from None
    await reserve_slot(session, user, limits)
    backtest = new_run(user, params, sweep_id=None)
    repository.add(session, backtest)
    await session.flush()
    BACKTESTS.labels(BacktestStatus.QUEUED).inc()
    logger.info("backtest queued backtest_id=%s user_id=%s", backtest.id, user.id)
    return backtest


def check_range(body: AnyBacktestCreate, limits: Settings, *where: str) -> None:
    step_ms = parse_timeframe(body.timeframe).ms
    span_ms = (body.end - body.start) // timedelta(milliseconds=1)
    candles = -(-span_ms // step_ms)
    maximum = limits.backtest_max_candles
    if candles > maximum:
        message = (
            f"the range spans {candles:,} {body.timeframe} candles; a backtest may span at most "
            f"{maximum:,}: shorten it or use a longer timeframe"
        )
        problem = detail(message, (*where, "end"), "range_too_long", limit=maximum, candles=candles)
        raise Unprocessable(message, details=[problem])
    if candles < 2:
        message = f"the range holds {candles} {body.timeframe} candle; a backtest needs two"
        raise Unprocessable(message, details=[detail(message, (*where, "end"), "range_too_short")])


async def market_rules(markets: MarketRulesProvider, exchange: str, symbol: str) -> MarketRules:
    try:
        rules = await markets(exchange, symbol)
    except UnknownMarket as error:
        # The provider's message says which list it looked in (the exchange's, or one known
        # offline); a bare one still names the symbol.
        message = str(error) if symbol in str(error) else f"{exchange} has no market {symbol}"
        raise invalid(message, "symbol") from None
    except TemporaryExchangeError:
        raise ServiceUnavailable(
            f"could not load the market rules of {exchange}; try again shortly"
        ) from None
    except ExchangeError as error:
        raise invalid(f"{exchange} {symbol}: {error}", "symbol") from None
    return rules


def run_params(body: AnyBacktestCreate, market: MarketRules) -> dict[str, Any]:
    """Everything the run needs, JSON-ready; raises ``RunRejected`` if the strategy refuses."""
    maker = body.fees.maker if body.fees.maker is not None else market.maker_fee
    taker = body.fees.taker if body.fees.taker is not None else market.taker_fee
    rules = replace(market, maker_fee=maker, taker_fee=taker)
    config = config_of(body).model_dump(mode="json")
    if isinstance(body, SignalBacktestCreate):
        _check_signals(config, rules)
    try:
        # Exactly what the worker will build: the submission is refused now, not at run time.
        build_strategy(body.type, config, rules)
    except StrategyConfigError as error:
        raise RunRejected(str(error), "config") from None
    data = body.model_dump(mode="json")
    data.update(
        config=config,
        fees={"maker": _text(maker), "taker": _text(taker)},
        market=market_to_json(rules),
    )
    return data


def _check_signals(config: dict[str, Any], market: MarketRules) -> None:
    """Every body parses: the first that does not is refused with its index and position."""
    try:
        signal_bot_from_config(config, market)
    except SignalListError as error:
        message = f"{error.message} (at character {error.position})"
        raise RunRejected(message, "config", "signals", str(error.index), "body") from None


def config_of(body: AnyBacktestCreate) -> StrategyParams | SignalReplayParams:
    if isinstance(body, SignalBacktestCreate):
        return body.config
    if isinstance(body, DcaBacktestCreate):
        return _start_on_replayed_candles(body.config, body.timeframe)
    if not isinstance(body, IndicatorBacktestCreate):
        return body.config
    config = body.config
    # An indicator reads the replayed candles: its timeframe is theirs unless it says otherwise.
    if "timeframe" not in config.model_fields_set:
        return config.model_copy(update={"timeframe": body.timeframe})
    if config.timeframe != body.timeframe:
        raise RunRejected(
            f"config.timeframe {config.timeframe} does not match the backtest's "
            f"{body.timeframe} candles: drop it or backtest {config.timeframe} candles",
            "config",
            "timeframe",
        )
    return config


def _start_on_replayed_candles(config: DcaParams, timeframe: str) -> DcaParams:
    """A DCA start condition reads the replayed candles too (the same rule as indicators)."""
    start = config.start_condition
    if start == "immediate":
        return config
    if "timeframe" not in start.model_fields_set:
        start = start.model_copy(update={"timeframe": timeframe})
        return config.model_copy(update={"start_condition": start})
    if start.timeframe != timeframe:
        raise RunRejected(
            f"config.start_condition.timeframe {start.timeframe} does not match the backtest's "
            f"{timeframe} candles: drop it or backtest {start.timeframe} candles",
            "config",
            "start_condition",
            "timeframe",
        )
    return config


async def reserve_slot(session: AsyncSession, user: UserIdentity, limits: Settings) -> None:
    await repository.lock_user(session, user.id)
    active = await repository.count_active_jobs(session, user.id)
    limit = limits.backtest_max_active_per_user
    if active >= limit:
        raise BacktestLimitReached(
            f"you have {active} backtests or sweeps queued or running and at most {limit} may "
            "be at once: wait for one to finish",
            details={"limit": limit, "active": active},
        )


def new_run(user: UserIdentity, params: dict[str, Any], sweep_id: uuid.UUID | None) -> Backtest:
    now = utcnow()
    return Backtest(
        id=uuid.uuid4(),
        user_id=user.id,
        sweep_id=sweep_id,
        status=BacktestStatus.QUEUED,
        params=params,
        progress=0.0,
        created_at=now,
        updated_at=now,
    )


def detail(message: str, where: Sequence[str], kind: str, **extra: Any) -> dict[str, Any]:
    return {"loc": ["body", *where], "msg": message, "type": kind, **extra}


def market_to_json(rules: MarketRules) -> dict[str, Any]:
    return {
        field.name: _text(value) if isinstance(value, Decimal) else value
        for field in fields(rules)
        for value in (getattr(rules, field.name),)
    }


def market_from_json(data: dict[str, Any]) -> MarketRules:
    def number(name: str) -> Decimal | None:
        value = data.get(name)
        return None if value is None else Decimal(value)

    def required(name: str) -> Decimal:
        return Decimal(data[name])

    return MarketRules(
        symbol=data["symbol"],
        base=data["base"],
        quote=data["quote"],
        amount_step=required("amount_step"),
        price_tick=required("price_tick"),
        min_amount=required("min_amount"),
        max_amount=number("max_amount"),
        min_cost=required("min_cost"),
        min_price=number("min_price"),
        max_price=number("max_price"),
        maker_fee=required("maker_fee"),
        taker_fee=required("taker_fee"),
        active=bool(data["active"]),
    )


def _text(value: Decimal) -> str:
    return format(value, "f")


# --- reading and deleting -----------------------------------------------------------------


async def get_backtest(
    session: AsyncSession, user: UserIdentity, backtest_id: uuid.UUID
) -> Backtest:
    """The user's backtest; another user's is exactly as missing as one that never existed."""
    backtest = await repository.get_backtest(session, user.id, backtest_id)
    if backtest is None:
        raise NotFound("backtest not found")
    return backtest


async def list_backtests(
    session: AsyncSession, user: UserIdentity, page: PageParams, *, in_sweep: bool | None = None
) -> tuple[Sequence[Backtest], int]:
    """``in_sweep``: False, only backtests run alone (a sweep's hundreds of runs would bury
    them); True, only sweeps' runs; None, all."""
    return await repository.list_backtests(
        session, user.id, limit=page.limit, offset=page.offset, in_sweep=in_sweep
    )


async def get_report(session: AsyncSession, user: UserIdentity, backtest_id: uuid.UUID) -> str:
    backtest = await repository.get_report(session, user.id, backtest_id)
    if backtest is None:
        raise NotFound("backtest not found")
    if backtest.status != BacktestStatus.SUCCEEDED or backtest.report_html is None:
        reason = "it failed" if backtest.status == BacktestStatus.FAILED else "it is not finished"
        raise BacktestStatusConflict(
            f"the report exists once the backtest succeeded, and {reason}", backtest.status
        )
    return backtest.report_html


async def delete_backtest(
    session: AsyncSession, user: UserIdentity, backtest_id: uuid.UUID
) -> None:
    """Delete a queued or finished backtest; a running one is 409 (it would finish anyway)."""
    backtest = await repository.get_backtest(session, user.id, backtest_id, for_update=True)
    if backtest is None:
        raise NotFound("backtest not found")
    if backtest.sweep_id is not None:
        raise BacktestStatusConflict(
            f"this backtest is a run of sweep {backtest.sweep_id}: delete the sweep",
            backtest.status,
        )
    if backtest.status == BacktestStatus.RUNNING:
        raise BacktestStatusConflict(
            "a running backtest cannot be deleted: wait for it to finish", backtest.status
        )
    # A queued one's task finds no row and does nothing.
    await repository.delete_backtest(session, backtest)
    logger.info("backtest deleted backtest_id=%s user_id=%s", backtest_id, user.id)


def backtest_item(backtest: Backtest) -> BacktestListItem:
    return BacktestListItem.model_validate(_read_data(backtest))


def backtest_read(backtest: Backtest, results: dict[str, Any] | None = None) -> BacktestRead:
    """``results``: the full results if made now for a sweep's run (``on_demand``)."""
    data = _read_data(backtest)
    if results is None and backtest.status == BacktestStatus.SUCCEEDED:
        results = backtest.results
    data["results"] = results
    return BacktestRead.model_validate(data)


def _read_data(backtest: Backtest) -> dict[str, Any]:
    params = backtest.params
    names = (
        *("type", "config", "exchange", "symbol", "timeframe", "start", "end"),
        *("initial_balance", "fees", "slippage"),
    )
    return {
        **{name: params[name] for name in names},
        "id": backtest.id,
        "sweep_id": backtest.sweep_id,
        "status": backtest.status,
        "progress": backtest.progress,
        "error": backtest.error,
        "created_at": backtest.created_at,
        "started_at": backtest.started_at,
        "finished_at": backtest.finished_at,
    }
