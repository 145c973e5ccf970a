"""TradingView alert bodies, after TradingView has substituted its {{placeholders}}.

JSON form (keys case-insensitive; numbers may be JSON numbers or strings)::

    {
      "action": "{{strategy.order.action}}", buy|sell|long|close|exit|flat|pause|resume
      "ticker": "{{ticker}}",                     or symbol/pair: BTCUSDT, BTC/USDT, BINANCE:BTCUSDT
      "price": {{close}},                         or close: the price seen, or the limit price
      "quantity": "{{strategy.order.contracts}}", or contracts/qty: base amount; "5%" = percent
      "market_position": "{{strategy.market_position}}",   "flat" turns a sell into close-all
      "time": "{{timenow}}",                      or timenow/timestamp: ISO 8601 with Z
      "max_lag": 60,                              refuse it if it arrives later than this
      "order_type": "limit",                      default market; limit needs a price
      "stop_loss": 63000, "take_profit": [67000, 69000],   (or sl, tp; one number or a list)
      "id": "...", "tag": "..."                   (or alert_id; comment)
    }

Keys compare without case, "_", "-" or ".": stopLoss, stop_loss and Stop-Loss are one key (and
given twice, refused). `action` may be left out when `market_position` is given: "long" buys,
"flat" closes all. The {{strategy.*}} values may be grouped in a "strategy" object
({"order_action", "order_contracts", "order_price", "market_position", ...}); a "strategy"
string is the strategy's name (the tag). "nonce" is an alert id. Read and ignored: bar, message,
exchange, interval, timeframe, open, high, low, passphrase, secret, position_size,
prev_market_position, prev_market_position_size, market_position_size, strategy.order_id.
Refused: "volume" (TradingView's {{volume}} is the bar's volume; say "quantity"), shorts, and any
other key, so that nothing a sender writes is silently dropped.

Text form: TradingView's default strategy alert message::

    [{{strategy.order.id}}: ]order {{strategy.order.action}} @ {{strategy.order.contracts}} filled
    on {{ticker}}. New strategy position is {{strategy.position_size}}

e.g. ``Long: order buy @ 0.5 filled on BTCUSDT. New strategy position is 0.5``. A sell that
leaves the position at 0 closes all; a sell that leaves some sells the given contracts.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.signals.grammar import values
from autogrid.signals.grammar.json_fields import JsonFields
from autogrid.signals.grammar.validate import finish
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    OrderKind,
    ParsedSignal,
    SignalAction,
    SignalParseError,
    TakeProfit,
)

FORMAT = "tradingview"
_IGNORED = (
    "bar",
    "message",
    "exchange",
    "interval",
    "timeframe",
    "open",
    "high",
    "low",
    "passphrase",
    "secret",
    "position_size",
    "prev_market_position",
    "prev_market_position_size",
    "market_position_size",
)
_ACTIONS = {
    "buy": SignalAction.BUY,
    "long": SignalAction.BUY,
    "sell": SignalAction.SELL,
    "close": SignalAction.CLOSE_ALL,
    "exit": SignalAction.CLOSE_ALL,
    "flat": SignalAction.CLOSE_ALL,
    # An alert may also steer the target bot itself (e.g. pause it when a volatility study fires).
    "pause": SignalAction.PAUSE,
    "resume": SignalAction.RESUME,
}
_DEFAULT_MESSAGE = re.compile(
    r"\s*(?:(?P<id>[^\n:]{1,60}):\s*)?order\s+(?P<action>buy|sell)\s+@\s+(?P<qty>\S{1,45})\s+"
    r"filled\s+on\s+(?P<ticker>[^\s.]{1,40}(?:\.P)?)\.\s+new\s+strategy\s+position\s+is\s+"
    r"(?P<position>-?[0-9.]{1,45}?)\.?\s*",
    re.IGNORECASE,
)


def looks_like_text(body: str) -> bool:
    return _DEFAULT_MESSAGE.fullmatch(body) is not None


def parse_json(
    document: dict[str, Any], body: str, *, default_symbol: str | None, now: datetime | None
) -> ParsedSignal:
    top = JsonFields(document, body)
    top.ignore(_IGNORED)
    fields = _Sources(top, _strategy_object(top))
    if "volume" in top:
        raise SignalParseError(
            "'volume' is ambiguous ({{volume}} is the bar's volume); give the size as 'quantity'",
            top.position("volume"),
        )
    built: dict[str, Any] = {"format": FORMAT}
    positions: dict[str, int] = {}
    built["action"], positions["action"] = _action(fields)
    symbol = fields.text("ticker", "symbol", "pair")
    if symbol is not None:
        built["symbol"] = values.normalise_symbol(*symbol)
        positions["symbol"] = symbol[1]
    else:
        built["symbol"] = default_symbol
    _order(fields, built, positions)
    _exits(fields, built, positions)
    _meta(fields, built, positions)
    fields.refuse_unread()
    return finish(ParsedSignal(**built), positions, now)


def _strategy_object(top: JsonFields) -> JsonFields | None:
    """A nested "strategy": {...} of {{strategy.*}} values; a string "strategy" is a name (tag)."""
    if not isinstance(top.raw("strategy"), dict):
        return None
    nested = top.nested("strategy")
    if nested is not None:
        nested.ignore((*_IGNORED, "order_id"))
    return nested


class _Sources:
    """The top-level fields and those of a nested strategy object, read as one: a field given in
    both places is refused rather than one of them silently winning."""

    def __init__(self, top: JsonFields, strategy: JsonFields | None) -> None:
        self._all = [top] if strategy is None else [top, strategy]
        self.strategy_is_object = strategy is not None

    def _one(self, found: list[tuple[Any, int] | None]) -> tuple[Any, int] | None:
        present = [item for item in found if item is not None]
        if len(present) > 1:
            raise SignalParseError("the same field is given twice", present[1][1])
        return present[0] if present else None

    def text(self, *names: str) -> tuple[str, int] | None:
        return self._one([source.text(*names) for source in self._all])

    def positive(self, *names: str) -> tuple[Any, int] | None:
        return self._one([source.positive(*names) for source in self._all])

    def take(self, *names: str) -> tuple[Any, int] | None:
        return self._one([source.take(*names) for source in self._all])

    def time(self, *names: str) -> tuple[datetime, int] | None:
        return self._one([source.time(*names) for source in self._all])

    def lag(self, *names: str) -> int | None:
        found = [lag for lag in (source.lag(*names) for source in self._all) if lag is not None]
        return found[0] if found else None

    def refuse_unread(self) -> None:
        for source in self._all:
            source.refuse_unread()


def _action(fields: _Sources) -> tuple[SignalAction, int]:
    action = fields.text("action", "side", "order_action", "signal")
    position = fields.text("market_position", "strategy.market_position", "position")
    if position is not None and position[0].lower() not in ("long", "flat", "short"):
        raise SignalParseError("market_position must be long, flat or short", position[1])
    if position is not None and position[0].lower() == "short":
        raise SignalParseError("short positions are not supported (spot, long only)", position[1])
    if action is None:
        if position is None:
            raise SignalParseError("an 'action' (buy or sell) is required", 0)
        return _ACTIONS[position[0].lower()], position[1]
    word, at = action[0].lower(), action[1]
    if word == "short":
        raise SignalParseError("short positions are not supported (spot, long only)", at)
    if word not in _ACTIONS:
        raise SignalParseError(
            f"action must be buy, sell, close, pause or resume, not {action[0][:20]!r}", at
        )
    return resolve_with_position(_ACTIONS[word], at, position), at


def resolve_with_position(
    action: SignalAction, at: int, position: tuple[str, int] | None
) -> SignalAction:
    """A strategy's order seen with the position it leaves behind."""
    flat = position is not None and position[0].lower() == "flat"
    if action is SignalAction.SELL and flat:
        # A sell that leaves the strategy flat closes the whole position, whatever its contracts.
        return SignalAction.CLOSE_ALL
    if action is SignalAction.BUY and flat:
        raise SignalParseError(
            "a buy that leaves the strategy flat covers a short; only long positions are traded",
            at,
        )
    return action


def _order(fields: _Sources, built: dict[str, Any], positions: dict[str, int]) -> None:
    kind = fields.text("order_type")
    if kind is not None:
        kinds = {"market": OrderKind.MARKET, "limit": OrderKind.LIMIT}
        if kind[0].lower() not in kinds:
            raise SignalParseError("order_type must be market or limit", kind[1])
        built["order_kind"], positions["order_kind"] = kinds[kind[0].lower()], kind[1]
    price = fields.positive("price", "close", "signal_price", "limit_price", "order_price")
    if price is not None:
        built["price"], positions["price"] = price
    quantity = fields.text("quantity", "contracts", "qty", "size", "order_contracts")
    if quantity is not None:
        built["amount"], positions["amount"] = _quantity(*quantity), quantity[1]
    if built["action"] is SignalAction.CLOSE_ALL:
        # A close sells everything: the closing order's contracts are informative only.
        built.pop("amount", None)


def _quantity(raw: str, at: int) -> Amount:
    if raw.endswith("%"):
        value = values.parse_positive(raw[:-1], at, "quantity")
        return Amount(values.check_percent(value, at, "quantity"), AmountUnit.PERCENT)
    return Amount(values.parse_positive(raw, at, "quantity"), AmountUnit.BASE)


def _exits(fields: _Sources, built: dict[str, Any], positions: dict[str, int]) -> None:
    stop = fields.positive("stop_loss", "sl", "stop")
    if stop is not None:
        built["stop_loss"], positions["stop_loss"] = stop
    targets = fields.take("take_profit", "tp", "take_profits")
    if targets is None:
        return
    raw, at = targets
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise SignalParseError("take_profit is an empty list", at)
    steps = []
    for item in items[:11]:
        text = values.json_text(item, at, "each take_profit")
        steps.append(TakeProfit(values.parse_positive(text, at, "take_profit")))
    built["take_profits"], positions["take_profits"] = tuple(steps), at


def _meta(fields: _Sources, built: dict[str, Any], positions: dict[str, int]) -> None:
    sent = fields.time("time", "timenow", "timestamp")
    if sent is not None:
        built["sent_at"], positions["sent_at"] = sent
    built["max_lag_seconds"] = fields.lag("max_lag")
    alert_id = fields.text("id", "alert_id", "nonce")
    built["alert_id"] = None if alert_id is None else alert_id[0]
    names = ("tag", "comment", "order_comment")
    # A "strategy" string is the strategy's name; an object holds {{strategy.*}} values instead.
    tag = fields.text(*names) if fields.strategy_is_object else fields.text(*names, "strategy")
    built["tag"] = None if tag is None else tag[0]


def parse_text(body: str, *, default_symbol: str | None, now: datetime | None) -> ParsedSignal:
    """TradingView's default strategy message (see the module docstring)."""
    match = _DEFAULT_MESSAGE.fullmatch(body)
    if match is None:  # the caller checked looks_like_text
        raise SignalParseError("not a TradingView strategy message", 0)
    raw_after = match["position"]
    short = raw_after.startswith("-")
    after = values.parse_decimal(
        raw_after.lstrip("-"), match.start("position"), "strategy position"
    )
    action = SignalAction.BUY if match["action"].lower() == "buy" else SignalAction.SELL
    if short or (action is SignalAction.BUY and after == 0):
        raise SignalParseError(
            "this order opens or covers a short position; only long positions are traded",
            match.start("position"),
        )
    amount: Amount | None = Amount(
        values.parse_positive(match["qty"], match.start("qty"), "contracts"), AmountUnit.BASE
    )
    if action is SignalAction.SELL and after == Decimal(0):
        action, amount = SignalAction.CLOSE_ALL, None
    signal = ParsedSignal(
        action=action,
        format=FORMAT,
        symbol=values.normalise_symbol(match["ticker"], match.start("ticker")),
        amount=amount,
        tag=match["id"].strip() if match["id"] else None,
    )
    return finish(signal, {"action": match.start("action")}, now)
