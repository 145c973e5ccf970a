"""Free-text channel signals, one line or the multi-line Telegram styles Cornix documents.

Grammar, over the tokens of free_text_lexer (case-insensitive; emojis, bullets, '*', ':' and
',' are decoration; list indexes such as "1)", "2:", "1️⃣" are skipped)::

    signal   = { part }
    part     = pair | label { value } | ignored-line
    pair     = BASE "/" QUOTE | "#" BASEQUOTE | BASE "-" QUOTE       e.g. BTC/USDT, #BTCUSDT
             | BASEQUOTE in capitals ending in a known quote          e.g. BTCUSDT
    label    = entry | stop | target | amount | "sell" | "close" | "market" | "limit"
    entry    = "buy" | "long" | "entry" | "enter" | "entry zone" | "buy zone" | "entry price"
             | "entry targets" | "@" | "at" | "zone"
    stop     = "sl" | "stop" | "stop loss" | "stoploss"
    target   = "tp" | "tpN" | "target" | "targets" | "take profit" | "take-profit targets"
             | "sell" (after an entry: Cornix's word for targets)
    amount   = "amount" | "size" | "qty"                 followed by N% | N QUOTE | N BASE
    value    = number [ "%" ] | number ("-" | "to") number
    ignored-line = ("exchange" | "timeframe" | "signal type" | "type" | "tf") ...

A number belongs to the last label before it. Several entry prices (or a range "64000-65000", or
"zone") make an entry zone from the lowest to the highest; one entry price makes a limit order at
it ("market" or "now" keeps it a market order). In targets, "67000 - 69000" is two targets, and a
percentage after a target ("TP1 67000 (50%)") is the share it closes. "sell"/"close" first is an
exit: "SELL BTC/USDT" sells, "SELL BTC/USDT @ 67000" sells at a limit, "CLOSE BTC/USDT" closes all.

Refused, so that chat is never a trade: any word not in the vocabulary, a number before any
label, "short", "leverage", a relative stop ("SL 5%"), and a message with no buy/sell/close word.

Examples::

    BUY BTC/USDT @ 65000 SL 63000 TP1 67000 TP2 69000
    BUY BTC/USDT entry 64000-65000 SL 63000 TP 67000
    #BTC/USDT
    Buy: 64000 - 65000
    Targets: 67000 - 69000
    Stop: 63000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.signals.grammar import values
from autogrid.signals.grammar.free_text_lexer import Kind, Token, tokens
from autogrid.signals.grammar.validate import finish
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    EntryZone,
    OrderKind,
    ParsedSignal,
    SignalAction,
    SignalParseError,
    TakeProfit,
)

FORMAT = "free_text"
MAX_ENTRIES = 10
MAX_CHARS = 4096  # Telegram's limit for one message, where these signals come from

_PHRASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "buy",
            "long",
            "entry",
            "entries",
            "enter",
            "entry zone",
            "buy zone",
            "entry price",
            "buy price",
            "entry targets",
            "buy targets",
            "entry point",
            "entry points",
            "at",
            "around",
            "zone",
            "entry range",
            "buy range",
        ),
        "entry",
    ),
    **dict.fromkeys(
        ("sl", "stop", "stop loss", "stoploss", "stop price", "stop target", "stop targets"), "stop"
    ),
    **dict.fromkeys(
        (
            "tp",
            "tps",
            "target",
            "targets",
            "take profit",
            "take profits",
            "takeprofit",
            "take profit targets",
            "profit targets",
            "take profit target",
        ),
        "target",
    ),
    **dict.fromkeys(("amount", "size", "qty", "quantity", "amount per trade"), "amount"),
    **dict.fromkeys(("close", "exit", "close all"), "close"),
    **dict.fromkeys(("market", "now", "cmp"), "market"),
    "sell": "sell",
    "limit": "limit",
    "to": "to",
    **dict.fromkeys(
        ("spot", "regular", "signal", "new", "trade", "setup", "pair", "coin"), "noise"
    ),
    **dict.fromkeys(("short", "sell short"), "short"),
    **dict.fromkeys(("leverage", "lev", "cross", "isolated"), "leverage"),
}
_IGNORED_LINES = frozenset(
    {"exchange", "exchanges", "timeframe", "tf", "type", "signal type", "trade type"}
)
_MAX_PHRASE_WORDS = 4


@dataclass
class _State:
    section: str | None = None
    action: SignalAction | None = None
    action_at: int = 0
    symbol: tuple[str, int] | None = None
    entries: list[tuple[Decimal, int]] = field(default_factory=list)
    entry_range: bool = False
    zone_word: bool = False
    stops: list[tuple[Decimal, int]] = field(default_factory=list)
    targets: list[list[Any]] = field(default_factory=list)  # [price, position, share]
    amount: tuple[Decimal, int, AmountUnit | None] | None = None
    kind: OrderKind | None = None


def parse(body: str, *, now: datetime | None) -> ParsedSignal:
    if len(body) > MAX_CHARS:
        raise SignalParseError(
            f"a free-text signal is at most {MAX_CHARS} characters (one Telegram message)",
            MAX_CHARS,
        )
    state = _State()
    stream = tokens(body)
    index = 0
    while index < len(stream):
        index = _step(stream, index, state)
    return _build(state, now)


def _step(stream: list[Token], index: int, state: _State) -> int:
    token = stream[index]
    if token.kind is Kind.NEWLINE:
        return index + 1
    if token.kind is Kind.PAIR:
        _set_symbol(state, token.text, token.position)
        return index + 1
    if token.kind is Kind.HASHTAG:
        _hashtag(state, token)
        return index + 1
    if token.kind is Kind.AT:
        _label(state, "entry", token)
        return index + 1
    if token.kind is Kind.DASH:
        if state.section == "entry" and state.entries:
            state.entry_range = True
        return index + 1
    if token.kind is Kind.NUMBER:
        _number(state, token, stream[index + 1] if index + 1 < len(stream) else None)
        return index + 1
    return _words(stream, index, state)


def _words(stream: list[Token], index: int, state: _State) -> int:
    for length in range(_MAX_PHRASE_WORDS, 0, -1):
        words = stream[index : index + length]
        if len(words) < length or any(word.kind is not Kind.WORD for word in words):
            continue
        phrase = " ".join(word.text.lower().replace("-", " ") for word in words)
        if length == 1 and phrase[:2] in ("tp", "ta") and _numbered_target(phrase):
            phrase = "target"
        if phrase in _IGNORED_LINES and _starts_line(stream, index):
            return _skip_line(stream, index)
        if phrase in _PHRASES:
            _label(state, _PHRASES[phrase], stream[index])
            return index + length
    word = stream[index]
    if state.amount is not None and state.section == "amount" and _currency(state, word):
        return index + 1
    if _bare_pair(word):
        _set_symbol(state, word.text, word.position)
        return index + 1
    raise SignalParseError(f"unexpected word {word.text[:30]!r}", word.position)


def _bare_pair(word: Token) -> bool:
    """BTCUSDT written in capitals, as TradingView's {{ticker}} gives it, names the pair."""
    text = word.text
    return (
        text.isupper()
        and text.isalnum()
        and any(text.endswith(quote) and len(text) > len(quote) for quote in values.KNOWN_QUOTES)
    )


def _numbered_target(phrase: str) -> bool:
    for prefix in ("tp", "target"):
        rest = phrase.removeprefix(prefix)
        if rest != phrase and rest.isascii() and rest.isdigit() and len(rest) <= 2:
            return True
    return False


def _starts_line(stream: list[Token], index: int) -> bool:
    return index == 0 or stream[index - 1].kind is Kind.NEWLINE


def _skip_line(stream: list[Token], index: int) -> int:
    """Past an informational line ("Exchange: Binance"), which still may not say short or
    leverage: "Signal Type: Regular (Short)" must not pass as a long."""
    while index < len(stream) and stream[index].kind is not Kind.NEWLINE:
        token = stream[index]
        if token.kind is Kind.WORD and _PHRASES.get(token.text.lower()) in ("short", "leverage"):
            _label(_State(), _PHRASES[token.text.lower()], token)
        index += 1
    return index


def _label(state: _State, label: str, token: Token) -> None:
    if label == "noise":
        return
    if label == "short":
        raise SignalParseError("short signals are not supported (spot, long only)", token.position)
    if label == "leverage":
        raise SignalParseError("leverage is not supported (spot only)", token.position)
    if label in ("market", "limit"):
        state.kind = OrderKind.MARKET if label == "market" else OrderKind.LIMIT
        return
    if label == "to":
        if state.section == "entry" and state.entries:
            state.entry_range = True
        return
    if label == "sell":
        if state.action is SignalAction.BUY:
            label = "target"  # Cornix: "Sell: 67000 69000" after a buy lists the targets
        else:
            _set_action(state, SignalAction.SELL, token)
            label = "entry"
    elif label == "close":
        _set_action(state, SignalAction.CLOSE_ALL, token)
    elif label == "entry":
        if token.text.lower() == "zone":
            state.zone_word = True
        if token.kind is not Kind.AT and token.text.lower() not in ("at", "around", "zone"):
            _set_action(state, SignalAction.BUY, token)
    state.section = label


def _set_action(state: _State, action: SignalAction, token: Token) -> None:
    if state.action is not None and state.action is not action:
        raise SignalParseError(
            f"{token.text!r} contradicts the earlier {state.action.value}", token.position
        )
    if state.action is None:
        state.action, state.action_at = action, token.position


def _set_symbol(state: _State, raw: str, at: int) -> None:
    symbol = values.normalise_symbol(raw.replace(" ", ""), at)
    if symbol.split("/")[1] not in values.KNOWN_QUOTES and not raw.isupper():
        # "and/or" is words, not a pair: an unusual quote must be written in capitals.
        raise SignalParseError(
            f"{raw[:30]!r} is not a pair: write an unusual quote currency in capitals", at
        )
    if state.symbol is not None and state.symbol[0] != symbol:
        raise SignalParseError(f"a second pair {symbol} in one signal", at)
    state.symbol = (symbol, at)


def _hashtag(state: _State, token: Token) -> None:
    # "#BTCUSDT" names the pair; other hashtags ("#signal", "#BTC") are decoration.
    try:
        _set_symbol(state, token.text, token.position)
    except SignalParseError:
        return


def _number(state: _State, token: Token, following: Token | None) -> None:
    if token.enumerator:
        return
    value = values.parse_decimal(token.text, token.position, "price")
    if state.section is None:
        raise SignalParseError("a number before any label (buy, stop, target...)", token.position)
    if token.percent:
        _percent(state, value, token)
        return
    if value <= 0:
        raise SignalParseError(f"{token.text} must be positive", token.position)
    if state.section == "entry":
        state.entries.append((value, token.position))
    elif state.section == "stop":
        state.stops.append((value, token.position))
    elif state.section == "target":
        state.targets.append([value, token.position, None])
    elif state.section == "amount":
        if state.amount is not None:
            raise SignalParseError("a second amount", token.position)
        if following is None or following.kind is not Kind.WORD:
            raise SignalParseError(
                "an amount needs a unit: 5%, 100 USDT or 0.01 BTC", token.position
            )
        state.amount = (value, token.position, None)
    else:
        raise SignalParseError("a number after 'close' means nothing", token.position)


def _percent(state: _State, value: Decimal, token: Token) -> None:
    if state.section == "amount" and state.amount is None:
        state.amount = (
            values.check_percent(value, token.position, "amount"),
            token.position,
            AmountUnit.PERCENT,
        )
    elif state.section == "target" and state.targets and state.targets[-1][2] is None:
        state.targets[-1][2] = values.check_percent(value, token.position, "target share")
    else:
        raise SignalParseError(
            "a percentage here is not understood: give prices (relative levels are not supported)",
            token.position,
        )


def _currency(state: _State, word: Token) -> bool:
    if state.amount is None or state.amount[2] is not None:
        return False
    code = word.text.upper()
    pair = state.symbol[0] if state.symbol is not None else ""
    base, _, quote = pair.partition("/")
    if code == base:
        unit = AmountUnit.BASE
    elif code == quote or (not pair and code in values.KNOWN_QUOTES):
        unit = AmountUnit.QUOTE
    else:
        return False
    state.amount = (state.amount[0], state.amount[1], unit)
    return True


def _build(state: _State, now: datetime | None) -> ParsedSignal:
    if state.action is None:
        raise SignalParseError("no buy, entry, sell or close keyword: this is not a signal", 0)
    positions = {"action": state.action_at}
    built: dict[str, Any] = {"action": state.action, "format": FORMAT}
    # Unlike the machine formats, a message written by a person must name its pair (as Cornix
    # requires): "close" or "buy now" typed in a channel must not act on whatever the bot trades.
    if state.symbol is None:
        raise SignalParseError("no pair: write it in full, e.g. BTC/USDT", 0)
    built["symbol"] = state.symbol[0]
    if state.amount is not None:
        value, at, unit = state.amount
        if unit is None:
            raise SignalParseError("an amount needs a unit: 5%, 100 USDT or 0.01 BTC", at)
        built["amount"], positions["amount"] = Amount(value, unit), at
    _entries(state, built, positions)
    if len(state.stops) > 1:
        raise SignalParseError("more than one stop loss", state.stops[1][1])
    if state.stops:
        built["stop_loss"], positions["stop_loss"] = state.stops[0]
    if state.targets:
        built["take_profits"] = tuple(TakeProfit(price, share) for price, _, share in state.targets)
        positions["take_profits"] = state.targets[0][1]
    return finish(ParsedSignal(**built), positions, now)


def _entries(state: _State, built: dict[str, Any], positions: dict[str, int]) -> None:
    entries = state.entries
    if len(entries) > MAX_ENTRIES:
        raise SignalParseError(f"more than {MAX_ENTRIES} entry prices", entries[MAX_ENTRIES][1])
    if not entries:
        if state.kind is OrderKind.LIMIT:
            raise SignalParseError("a limit order needs a price", state.action_at)
        return
    if state.action is not SignalAction.BUY and len(entries) > 1:
        raise SignalParseError("an exit takes one price", entries[1][1])
    if len(entries) == 1 and (state.zone_word or state.entry_range):
        raise SignalParseError("an entry zone needs two prices", entries[0][1])
    if len(entries) == 1:
        built["price"], positions["price"] = entries[0]
        built["order_kind"] = state.kind or OrderKind.LIMIT
        return
    prices = sorted(price for price, _ in entries)
    if prices[0] == prices[-1]:
        raise SignalParseError("an entry zone's low must be below its high", entries[1][1])
    built["entry_zone"] = EntryZone(prices[0], prices[-1])
    built["order_kind"] = OrderKind.LIMIT
    positions["entry_zone"] = entries[0][1]
