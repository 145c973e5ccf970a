"""A buy signal on a source with a smart-trade template opens a smart trade.

The signal gives the entry (its zone, its limit price, else at market), the stop loss and the
take-profits; the source's template where to trade (paper or a live credential), the symbol and
amount the signal leaves out, and the defaults of the rest (break-even move, trailing stop,
timeout). The trade is created and started as through ``POST /smart-trades``, with the same
validation against the real market's rules (minimum amount and cost, steps): a signal that asks
for what a trade cannot do (a stop above its entry, no amount anywhere, less than the market's
minimum) opens nothing and says why.

When the market rules cannot be had at that moment (the exchange not answering and no list of
its markets known, not even offline), the trade is still opened, checked against the
conservative defaults (``conservative_market_rules``): a signal is not sent twice, and refusing
it would lose the trade for a passing outage. Its bot checks the real rules at its first tick
(which waits for them): an entry below them ends the trade at once (exit ``refused``, the reason
in its note).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.dispatch import BotCommand
from autogrid.bots.markets import MarketRulesProvider, conservative_market_rules
from autogrid.core.errors import AppError, ServiceUnavailable
from autogrid.exchanges.errors import TemporaryExchangeError
from autogrid.exchanges.types import MarketRules
from autogrid.models import Signal, UserIdentity
from autogrid.smart_trades import service
from autogrid.smart_trades.schemas import SmartTradeCreate, SmartTradeTemplate

logger = logging.getLogger(__name__)


class NotATrade(Exception):
    """What the signal and the template give cannot make a smart trade; the message says why."""


@dataclass(frozen=True, slots=True)
class Opened:
    trade_id: uuid.UUID | None  # the trade (its bot's id); None when nothing was opened
    reason: str | None  # why not
    command: BotCommand | None  # the start, sent after commit


async def open_from_signal(
    session: AsyncSession,
    user: UserIdentity,
    signal: Signal,
    template: Mapping[str, Any],
    markets: MarketRulesProvider,
) -> Opened:
    """Create and start the signal's smart trade; nothing written if it cannot be opened (the
    trade's rows are flushed in a savepoint, rolled back on refusal)."""
    try:
        body = trade_body(
            signal.id, signal.parsed or {}, SmartTradeTemplate.model_validate(template)
        )
    except NotATrade as refusal:
        return Opened(None, str(refusal), None)
    try:
        async with session.begin_nested():
            transition = await service.create(session, user, body, _or_defaults(markets))
    except AppError as refused:
        return Opened(None, refused.message, None)
    return Opened(transition.bot.id, None, transition.command)


def _or_defaults(markets: MarketRulesProvider) -> MarketRulesProvider:
    """``markets``, or the conservative defaults while the exchange's rules cannot be had."""

    async def provider(exchange: str, symbol: str) -> MarketRules:
        try:
            return await markets(exchange, symbol)
        except (TemporaryExchangeError, ServiceUnavailable) as error:
            logger.info(
                "%s %s: market rules unavailable (%s): default rules", exchange, symbol, error
            )
            return await conservative_market_rules(exchange, symbol)

    return provider


def trade_body(
    signal_id: int, parsed: Mapping[str, Any], template: SmartTradeTemplate
) -> SmartTradeCreate:
    """The create body of the signal's trade (pure); raises ``NotATrade``."""
    symbol = parsed.get("symbol") or template.symbol
    if symbol is None:
        raise NotATrade("the signal names no symbol and the source's template has none")
    amount = parsed.get("amount")
    if amount is None and template.amount is None:
        raise NotATrade("the signal gives no amount and the source's template has none")
    stop = parsed.get("stop_loss")
    data: dict[str, Any] = {
        "name": f"signal {signal_id}",
        "mode": template.mode,
        "credential_id": template.credential_id,
        "paper": template.paper.model_dump(mode="json") if template.paper else None,
        "exchange": template.exchange,
        "symbol": symbol,
        "amount": amount if amount is not None else _template_amount(template),
        "entry": _entry(parsed, template.zone_orders),
        "take_profits": [
            {"price": step["price"], "share_percent": step.get("share_percent")}
            for step in parsed.get("take_profits") or ()
        ],
        "stop_loss": None
        if stop is None and not template.move_to_break_even_after_first_tp
        else {
            "price": stop,
            "move_to_break_even_after_first_tp": template.move_to_break_even_after_first_tp,
        },
        "trailing_stop": template.trailing_stop.model_dump(mode="json")
        if template.trailing_stop
        else None,
        "timeout_seconds": template.timeout_seconds,
    }
    try:
        return SmartTradeCreate.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise NotATrade(f"{where}: {first['msg']}" if where else str(first["msg"])) from None


def _template_amount(template: SmartTradeTemplate) -> dict[str, Any]:
    assert template.amount is not None  # checked by the caller
    return template.amount.model_dump(mode="json")


def _entry(parsed: Mapping[str, Any], zone_orders: int) -> dict[str, Any]:
    zone = parsed.get("entry_zone")
    if zone is not None:
        return {
            "type": "zone",
            "zone_low": zone["low"],
            "zone_high": zone["high"],
            "zone_orders": zone_orders,
        }
    price = parsed.get("price")
    if parsed.get("order_kind") == "limit" and price is not None and Decimal(price) > 0:
        return {"type": "limit", "price": price}
    return {"type": "market"}
