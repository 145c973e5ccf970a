"""3Commas-style JSON: the signal bot's custom and strategy messages, and the DCA bot's.

Signal bot, custom type::

    {
      "secret": "...", "bot_uuid": "...",             read and ignored: our token is the credential
      "max_lag": "300",                                refuse it later than this many seconds ...
      "timestamp": "{{timenow}}",                      ... after this ISO 8601 time
      "trigger_price": "{{close}}",                    the price the sender saw (or limit price)
      "tv_exchange": "{{exchange}}",                   ignored
      "tv_instrument": "{{ticker}}",                   BTCUSDT -> BTC/USDT
      "action": "enter_long" | "exit_long",            buy, or sell (part of) the long
      "order": {"amount": "100",
                "currency_type": "quote" | "base" | "margin_percent" | "position_percent",
                "order_type": "market" | "limit", "price": "65000"}       (all optional)
    }

Signal bot, strategy type: `action` is "buy" or "sell" ({{strategy.order.action}}) and
`strategy_info.market_position` "flat" turns a sell into close-all; the other strategy_info fields
are ignored.

DCA bot (`"message_type": "bot"`): no action, or "start_deal", opens a deal; "close_at_market_price"
closes the open deal; "stop_bot"/"disable" pause and "start_bot"/"enable" resume the bot.
`pair` is in 3Commas' QUOTE_BASE order: "USDT_BTC" is BTC/USDT. `bot_id`, `email_token` ignored;
`delay_seconds` must be 0 (delayed execution is not offered).

Shorts (enter_short, exit_short) and any unknown field are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autogrid.signals.grammar import values
from autogrid.signals.grammar.json_fields import JsonFields, normal_key
from autogrid.signals.grammar.tradingview import resolve_with_position
from autogrid.signals.grammar.validate import finish
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    OrderKind,
    ParsedSignal,
    SignalAction,
    SignalParseError,
)

FORMAT = "3commas"
MARKERS = frozenset(
    normal_key(key)
    for key in {
        "trigger_price",
        "bot_uuid",
        "message_type",
        "tv_instrument",
        "tv_exchange",
        "email_token",
        "bot_id",
        "delay_seconds",
        "strategy_info",
    }
)
_SIGNAL_ACTIONS = {
    "enter_long": SignalAction.BUY,
    "exit_long": SignalAction.SELL,
    "buy": SignalAction.BUY,
    "sell": SignalAction.SELL,
}
_BOT_ACTIONS = {
    "start_deal": SignalAction.START_DEAL,
    "close_at_market_price": SignalAction.CLOSE_DEAL,
    "stop_bot": SignalAction.PAUSE,
    "disable": SignalAction.PAUSE,
    "start_bot": SignalAction.RESUME,
    "enable": SignalAction.RESUME,
}
# Actions only 3Commas uses; "buy"/"sell" alone do not make a body 3Commas-style.
_OWN_ACTIONS = frozenset(_BOT_ACTIONS) | {"enter_long", "exit_long", "enter_short", "exit_short"}
_UNITS = {
    "quote": AmountUnit.QUOTE,
    "base": AmountUnit.BASE,
    "margin_percent": AmountUnit.PERCENT,
    "position_percent": AmountUnit.PERCENT,
}


def looks_like(document: dict[str, Any]) -> bool:
    keys = {normal_key(key) for key in document}
    action = document.get("action")
    own_action = isinstance(action, str) and action.lower() in _OWN_ACTIONS
    return bool(keys & MARKERS) or own_action


def parse(
    document: dict[str, Any], body: str, *, default_symbol: str | None, now: datetime | None
) -> ParsedSignal:
    fields = JsonFields(document, body)
    fields.ignore(("secret", "bot_uuid", "bot_id", "email_token", "tv_exchange"))
    built: dict[str, Any] = {"format": FORMAT}
    positions: dict[str, int] = {}
    _delay(fields)
    is_bot = _message_type(fields)
    built["action"], positions["action"] = _action(fields, is_bot)
    built["symbol"] = _symbol(fields, positions) or default_symbol
    trigger = fields.positive("trigger_price")
    if trigger is not None:
        built["price"], positions["price"] = trigger
    order = fields.nested("order")
    if order is not None:
        _order(order, built, positions)
    sent = fields.time("timestamp")
    if sent is not None:
        built["sent_at"], positions["sent_at"] = sent
    built["max_lag_seconds"] = fields.lag("max_lag")
    fields.refuse_unread()
    return finish(ParsedSignal(**built), positions, now)


def _delay(fields: JsonFields) -> None:
    delay = fields.text("delay_seconds")
    if delay is not None and delay[0] != "0":
        raise SignalParseError("delay_seconds must be 0: delayed signals are not offered", delay[1])


def _message_type(fields: JsonFields) -> bool:
    found = fields.text("message_type")
    if found is None:
        return False
    if found[0].lower() != "bot":
        raise SignalParseError('message_type must be "bot"', found[1])
    return True


def _action(fields: JsonFields, is_bot: bool) -> tuple[SignalAction, int]:
    found = fields.text("action")
    info = fields.nested("strategy_info")
    if found is None:
        if is_bot:
            return SignalAction.START_DEAL, fields.position("message_type")
        raise SignalParseError("an 'action' is required (e.g. enter_long)", 0)
    word, at = found[0].lower(), found[1]
    if word in ("enter_short", "exit_short"):
        raise SignalParseError("short positions are not supported (spot, long only)", at)
    action = _BOT_ACTIONS.get(word) or _SIGNAL_ACTIONS.get(word)
    if action is None:
        raise SignalParseError(f"unknown action {found[0][:30]!r}", at)
    if info is not None:
        info.ignore(("market_position_size", "prev_market_position", "prev_market_position_size"))
        position = info.text("market_position")
        info.refuse_unread()
        if position is not None and position[0].lower() == "short":
            raise SignalParseError(
                "short positions are not supported (spot, long only)", position[1]
            )
        action = resolve_with_position(action, at, position)
    return action, at


def _symbol(fields: JsonFields, positions: dict[str, int]) -> str | None:
    instrument = fields.text("tv_instrument")
    pair = fields.text("pair")
    if instrument is not None and pair is not None:
        raise SignalParseError("give tv_instrument or pair, not both", pair[1])
    if instrument is not None:
        positions["symbol"] = instrument[1]
        return values.normalise_symbol(*instrument)
    if pair is not None:
        positions["symbol"] = pair[1]
        quote, separator, base = pair[0].partition("_")
        if not separator:
            raise SignalParseError("pair must be QUOTE_BASE, e.g. USDT_BTC", pair[1])
        return values.normalise_symbol(f"{base}/{quote}", pair[1])
    return None


def _order(order: JsonFields, built: dict[str, Any], positions: dict[str, int]) -> None:
    amount = order.positive("amount")
    unit = order.text("currency_type")
    if amount is not None:
        unit_name = unit[0].lower() if unit is not None else "quote"
        if unit_name not in _UNITS:
            raise SignalParseError(
                "currency_type must be quote, base, margin_percent or position_percent",
                unit[1] if unit is not None else amount[1],
            )
        value = amount[0]
        if _UNITS[unit_name] is AmountUnit.PERCENT:
            value = values.check_percent(value, amount[1], "order amount")
        built["amount"], positions["amount"] = Amount(value, _UNITS[unit_name]), amount[1]
    elif unit is not None:
        raise SignalParseError("currency_type without an amount", unit[1])
    kind = order.text("order_type")
    if kind is not None:
        kinds = {"market": OrderKind.MARKET, "limit": OrderKind.LIMIT}
        if kind[0].lower() not in kinds:
            raise SignalParseError("order_type must be market or limit", kind[1])
        built["order_kind"], positions["order_kind"] = kinds[kind[0].lower()], kind[1]
    price = order.positive("price")
    if price is not None:
        built["price"], positions["price"] = price
    order.refuse_unread()
