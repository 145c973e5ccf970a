"""Checks a bot's settings need beyond field types: the exchange and its market, the user's
credential, the circuit breaker's platform limits, the strategy's own validation, the paper
balances and, for a replay, the stored candles it will play (at create, edit and start: a replay
without them would idle silently). Each failure is a 422 whose ``details`` point at the field,
like a validation error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository
from autogrid.bots.configs import (
    HUNDRED,
    DcaParams,
    GridParams,
    StrategyCheck,
    StrategyParams,
    check_strategy,
)
from autogrid.bots.markets import MarketRulesProvider, UnknownMarket, lookup_exchange
from autogrid.bots.schemas import BreakerSettings, PaperSettings, PriceSource
from autogrid.bots.signal_params import SignalBotParams
from autogrid.bots.smart_trade_params import SmartTradeParams
from autogrid.bots.state import load_state
from autogrid.core.errors import ServiceUnavailable, Unprocessable
from autogrid.exchanges.errors import ExchangeError, TemporaryExchangeError
from autogrid.exchanges.types import MarketRules
from autogrid.market_data.coverage import MissingCandles, replay_gap
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.models import Bot, UserIdentity
from autogrid.models.bot import BotMode
from autogrid.trading.breaker import BreakerLimits
from autogrid.trading.strategies.base import StrategyConfigError


@dataclass(frozen=True, slots=True)
class BotDraft:
    """Everything about a bot that validation looks at (a new bot, or one being edited)."""

    exchange: str
    symbol: str
    mode: BotMode
    credential_id: uuid.UUID | None
    paper: PaperSettings | None
    params: StrategyParams
    breaker: BreakerSettings


@dataclass(frozen=True, slots=True)
class ValidBot:
    exchange: str  # the catalog's id ("gateio" -> "gate")
    investment: Decimal | None


def invalid(message: str, *where: str | int, kind: str = "invalid") -> Unprocessable:
    """A 422 whose details look like a request validation error's."""
    return Unprocessable(message, details=[{"loc": ["body", *where], "msg": message, "type": kind}])


class CandlesMissing(Unprocessable):
    """A replay's candles are not stored; ``details`` point at what to change."""

    code = "candles_missing"


_MISSING_WHERE = {"symbol": ("symbol",), "timeframe": ("paper", "timeframe")}


def candles_missing(gap: MissingCandles) -> CandlesMissing:
    where = _MISSING_WHERE.get(gap.field, ("paper", "start"))
    detail = {"loc": ["body", *where], "msg": gap.message, "type": "candles_missing"}
    return CandlesMissing(gap.message, details=[detail])


async def check_replay_start(session: AsyncSession, bot: Bot) -> None:
    """Refuse to start a replay bot with nothing to play: no candles of its series, a start
    outside them, or (resuming its account) every stored candle already played."""
    paper = PaperSettings.model_validate(bot.paper) if bot.paper else None
    if paper is None or paper.price_source is not PriceSource.REPLAY:
        return
    assert paper.start is not None
    position, resumed = paper.start, False
    # The runtime keeps the bot's paper account while its paper settings are unchanged.
    saved = load_state(bot).paper
    if saved is not None and saved.account_id and saved.settings == bot.paper:
        reached = await repository.paper_matched_until(session, uuid.UUID(saved.account_id))
        if reached is not None:
            position, resumed = reached, True
    gap = await replay_gap(
        session, bot.exchange, bot.symbol, paper.timeframe, position, resumed=resumed
    )
    if gap is not None:
        raise candles_missing(gap)


async def validate_draft(
    session: AsyncSession,
    user: UserIdentity,
    draft: BotDraft,
    markets: MarketRulesProvider,
    now: datetime,
) -> ValidBot:
    exchange = await _check_exchange(draft)
    if draft.mode is BotMode.LIVE:
        await _check_credential(session, user, draft, exchange)
    _check_breaker(draft.breaker)
    rules = await _market_rules(markets, exchange, draft.symbol)
    try:
        check = check_strategy(draft.params, rules)
    except StrategyConfigError as error:
        raise invalid(str(error), "config", kind="strategy_config") from None
    investment = check.investment
    if draft.paper is not None:
        _check_paper(draft.paper, draft.params, rules, now)
        if draft.paper.price_source is PriceSource.REPLAY:
            assert draft.paper.start is not None
            gap = await replay_gap(
                session, exchange, draft.symbol, draft.paper.timeframe, draft.paper.start
            )
            if gap is not None:
                raise candles_missing(gap)
        investment = _check_funds(draft.paper, draft.params, rules, check)
    return ValidBot(exchange=exchange, investment=investment)


async def _check_exchange(draft: BotDraft) -> str:
    info = await lookup_exchange(draft.exchange)
    if info is None:
        raise invalid(f"unknown exchange {draft.exchange!r}", "exchange")
    if draft.mode is BotMode.LIVE and not info.can_trade:
        raise invalid(f"{info.name} offers market data only: no live trading", "exchange")
    return info.exchange_id


async def _check_credential(
    session: AsyncSession, user: UserIdentity, draft: BotDraft, exchange: str
) -> None:
    if draft.credential_id is None:  # its credential was deleted since
        raise invalid("a live bot needs a credential_id", "credential_id")
    credential = await repository.get_credential(session, user.id, draft.credential_id)
    if credential is None:
        # Someone else's credential reads exactly like a missing one.
        raise invalid("credential_id is not one of your credentials", "credential_id")
    if credential.exchange != exchange:
        raise invalid(
            f"credential {credential.label!r} is for {credential.exchange}, not {exchange}",
            "credential_id",
        )


def _check_breaker(breaker: BreakerSettings) -> None:
    platform = BreakerLimits()
    for name, value in breaker.limit_overrides().items():
        try:
            platform.tightened({name: value})
        except ValueError as error:
            raise invalid(str(error), "breaker", name, kind="breaker_loosened") from None


async def _market_rules(markets: MarketRulesProvider, exchange: str, symbol: str) -> MarketRules:
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
    if not rules.active:
        raise invalid(f"{exchange} does not trade {symbol} at the moment", "symbol")
    return rules


def _check_paper(
    paper: PaperSettings, params: StrategyParams, rules: MarketRules, now: datetime
) -> None:
    if paper.start is not None and paper.start >= now:
        raise invalid("paper.start must be in the past: a replay plays stored candles", "paper")
    strangers = sorted(set(paper.balances) - {rules.base, rules.quote})
    if strangers:
        raise invalid(
            f"paper balances may only hold {rules.base} and {rules.quote}, "
            f"not {', '.join(strangers)}",
            "paper",
            "balances",
        )
    replay = paper.price_source is PriceSource.REPLAY
    if replay and isinstance(params, DcaParams) and params.schedule is not None:
        raise invalid(
            "a schedule buys on the wall clock; a replay plays recorded time: "
            "use live prices (price_source live) for recurring buys",
            "config",
            "schedule",
        )
    if isinstance(params, SignalBotParams):
        if not replay:
            return
        raise invalid(
            "a signal bot acts on signals as they arrive; a replay plays recorded time: "
            "use live prices (price_source live)",
            "paper",
            "price_source",
        )
    if not replay or isinstance(params, GridParams | SmartTradeParams):
        return
    if not isinstance(params, DcaParams):
        _check_timeframes(paper, "the indicator's", params.timeframe, "config", "timeframe")
    elif params.start_condition != "immediate":
        where = ("config", "start_condition", "timeframe")
        _check_timeframes(paper, "the start condition's", params.start_condition.timeframe, *where)


def _check_timeframes(paper: PaperSettings, whose: str, timeframe: str, *where: str) -> None:
    # A replay streams paper.timeframe candles; the indicator's are built from whole runs of them.
    replayed = parse_timeframe(paper.timeframe)
    wanted = parse_timeframe(timeframe)
    if wanted.ms % replayed.ms or (wanted.anchor_ms - replayed.anchor_ms) % replayed.ms:
        raise invalid(
            f"{whose} timeframe {wanted} cannot be built from the replayed {replayed} "
            "candles: use a multiple of paper.timeframe",
            *where,
        )


def _check_funds(
    paper: PaperSettings, params: StrategyParams, rules: MarketRules, check: StrategyCheck
) -> Decimal | None:
    quote = rules.quote
    available = paper.balances.get(quote, Decimal(0))
    if available <= 0:
        raise invalid(f"paper balances hold no {quote} to buy with", "paper", "balances")
    for need in check.needs:
        if need.amount > available:
            raise Unprocessable(
                f"{need.what} needs {need.amount} {quote} but the paper balances hold "
                f"{available} {quote}",
                details=[
                    {
                        "loc": ["body", "paper", "balances", quote],
                        "msg": f"{need.what} needs more {quote}",
                        "type": "insufficient_funds",
                        "needed": str(need.amount),
                        "available": str(available),
                    }
                ],
            )
    if isinstance(params, SignalBotParams):
        # A share of the free quote per buy, as many buys as its signals ask: no fixed stake.
        return check.investment
    if isinstance(params, SmartTradeParams):
        return check.investment  # null unless sized in quote: known once the entry fills
    if check.investment is None and not isinstance(params, GridParams | DcaParams):
        # A share of the free quote: what is at stake is that share of the starting balance.
        assert params.order_pct is not None
        return available * params.order_pct / HUNDRED
    return check.investment
