"""A live DCA bot starts only if its exchange account can pay for what the bot may commit at once.

The needs are the strategy's own (``check_strategy(...).needs``, the ones a paper bot's balances
are checked against when it is created): a full deal (max_deal_funds) and, with a schedule, one
scheduled buy. The largest must be covered by the *free* quote of the bot's credential, read with
one signed call at start; quote locked in open orders is not free. Grid and indicator bots, and
paper bots, are not checked here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository
from autogrid.bots.configs import DcaParams, FundsNeed, check_strategy
from autogrid.bots.markets import MarketRulesProvider, UnknownMarket
from autogrid.bots.schemas import strategy_data
from autogrid.core.config import Settings
from autogrid.core.errors import Conflict, Unprocessable
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.credentials.service import fetch_balances
from autogrid.exchanges.api_errors import ExchangeBadGateway, ExchangeUnavailable
from autogrid.exchanges.errors import ExchangeError, TemporaryExchangeError
from autogrid.exchanges.pool import ConnectorFactory
from autogrid.exchanges.types import MarketRules
from autogrid.models import Bot
from autogrid.models.bot import BotMode, BotType
from autogrid.trading.strategies.base import StrategyConfigError

logger = logging.getLogger(__name__)


class InsufficientFunds(Unprocessable):
    code = "insufficient_funds"


@dataclass(frozen=True, slots=True)
class ExchangeAccess:
    """What reading a live bot's balance takes. The key ring is built from ``settings`` only
    when a balance is read: a server without ENCRYPTION_KEYS still starts paper bots."""

    settings: Settings
    connectors: ConnectorFactory
    markets: MarketRulesProvider


async def check_start_funds(session: AsyncSession, bot: Bot, access: ExchangeAccess | None) -> None:
    """Refuse (InsufficientFunds, 422) a live DCA bot whose largest need exceeds the free quote.

    Call it with the bot row locked, before changing it: its config cannot change in between,
    and a refusal leaves nothing to undo. Exchange trouble raises the credential verification's
    errors (ExchangeKeyRefused 422, ExchangeUnavailable 503, ExchangeBadGateway 502).
    """
    if bot.mode != BotMode.LIVE or bot.type != BotType.DCA:
        return
    if access is None:
        raise RuntimeError("starting a live DCA bot needs ExchangeAccess to check its balance")
    params = DcaParams.model_validate(strategy_data(bot))
    rules = await _market_rules(access.markets, bot)
    try:
        needs = check_strategy(params, rules).needs
    except StrategyConfigError as error:  # the market's minimums rose since the bot was saved
        raise Unprocessable(f"the bot's config no longer suits {bot.symbol}: {error}") from None
    largest = max(needs, key=lambda need: need.amount, default=None)
    if largest is None:
        return
    credential = None
    if bot.credential_id is not None:
        credential = await repository.get_credential(session, bot.user_id, bot.credential_id)
    if credential is None:
        raise Conflict("the bot's credential no longer exists: set a credential_id and start it")
    balances = await fetch_balances(
        keyring_from_settings(access.settings), access.connectors, credential
    )
    held = balances.get(rules.quote)
    available = held.free if held is not None else Decimal(0)
    if largest.amount > available:
        logger.info(
            "start refused: insufficient funds bot_id=%s needed=%s available=%s %s",
            bot.id,
            largest.amount,
            available,
            rules.quote,
        )
        raise _insufficient(largest, rules.quote, available)


async def _market_rules(markets: MarketRulesProvider, bot: Bot) -> MarketRules:
    # Not validation's helper: its errors point into a request body, and a start has none.
    try:
        return await markets(bot.exchange, bot.symbol)
    except UnknownMarket:
        raise Unprocessable(f"{bot.exchange} no longer lists {bot.symbol}") from None
    except TemporaryExchangeError as error:
        raise ExchangeUnavailable(bot.exchange, retry_after=error.retry_after) from None
    except ExchangeError:
        raise ExchangeBadGateway(bot.exchange) from None


def _insufficient(need: FundsNeed, quote: str, available: Decimal) -> InsufficientFunds:
    # The same details as a paper bot's balances check, pointing at the exchange balance.
    return InsufficientFunds(
        f"{need.what} needs {need.amount} {quote} but the account has {available} {quote} free",
        details=[
            {
                "loc": ["balance", quote],
                "msg": f"{need.what} needs more {quote}",
                "type": "insufficient_funds",
                "currency": quote,
                "needed": str(need.amount),
                "available": str(available),
            }
        ],
    )
