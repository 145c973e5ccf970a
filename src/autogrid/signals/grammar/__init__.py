"""The signal grammar: any body a sender posts -> one ParsedSignal, or SignalParseError.

Pure: no I/O, no clock of its own (`now` is passed in), no framework. The formats and their
grammars are documented in each module and in docs/signals.md. The format is recognised from
the body itself, in this order:

1. `{...}`: JSON; 3Commas-style when it has a field only 3Commas uses (trigger_price, bot_uuid,
   tv_instrument, message_type, ...) or a 3Commas action (enter_long, close_at_market_price,
   ...), otherwise a TradingView alert.
2. The first item is `KEY=`: OctoBot-style KEY=VALUE lines or `;`-separated pairs.
3. TradingView's default strategy message ("order buy @ 1 filled on BTCUSDT. New strategy ...").
4. Anything else: a free-text channel signal, which refuses words it does not know.

`parse_signal` raises only SignalParseError, whose `position` is the 0-based character offset of
the fault in `body` (for JSON fields: where the field's key is).
"""

from __future__ import annotations

from datetime import datetime

from autogrid.signals.grammar import free_text, key_value, threecommas, tradingview, values
from autogrid.signals.grammar.validate import finish
from autogrid.signals.model import ParsedSignal, SignalParseError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_BODY_CHARS",
    "check_signal",
    "parse_signal",
    "parse_signal_bytes",
]

# Real signals are a few hundred characters; anything this large is a mistake or an attack, and
# refusing it first bounds the work every later step can do.
MAX_BODY_CHARS = 64 * 1024
MAX_BODY_BYTES = 4 * MAX_BODY_CHARS  # the same text in UTF-8 is at most 4 bytes a character


def parse_signal(
    body: str, *, default_symbol: str | None = None, now: datetime | None = None
) -> ParsedSignal:
    """Understand one signal.

    `default_symbol` ("BASE/QUOTE") fills a machine-format signal that names no pair (the target
    bot's pair); free text must name its pair;
    `now` (timezone-aware) lets a sent-at time more than 5 minutes in the future be refused.
    """
    if len(body) > MAX_BODY_CHARS:
        raise SignalParseError(f"the signal is longer than {MAX_BODY_CHARS} characters", 0)
    if default_symbol is not None:
        default_symbol = values.normalise_symbol(default_symbol, 0)
    if body.startswith("\ufeff"):
        body = " " + body[1:]  # a byte-order mark: blank it, keeping every position
    start = len(body) - len(body.lstrip())
    if start == len(body):
        raise SignalParseError("the signal is empty", 0)
    placeholder = body.find("{{")
    if placeholder >= 0:
        raise SignalParseError(
            "a TradingView {{placeholder}} was not substituted; it only works in the alert's "
            "message box, with the variable spelled exactly",
            placeholder,
        )
    if "\x00" in body:
        raise SignalParseError("the signal contains a NUL character", body.index("\x00"))
    first = body[start]
    if first == "{":
        document = values.load_json(body, 0)
        if threecommas.looks_like(document):
            return threecommas.parse(document, body, default_symbol=default_symbol, now=now)
        return tradingview.parse_json(document, body, default_symbol=default_symbol, now=now)
    if first == "[":
        raise SignalParseError("a JSON signal must be an object ({...}), not a list", start)
    if key_value.looks_like(body):
        return key_value.parse(body, default_symbol=default_symbol, now=now)
    if tradingview.looks_like_text(body):
        return tradingview.parse_text(body, default_symbol=default_symbol, now=now)
    return free_text.parse(body, now=now)


def parse_signal_bytes(
    body: bytes, *, default_symbol: str | None = None, now: datetime | None = None
) -> ParsedSignal:
    """`parse_signal` for a raw request body: UTF-8 (a byte-order mark is dropped)."""
    if len(body) > MAX_BODY_BYTES:
        raise SignalParseError(f"the signal is longer than {MAX_BODY_BYTES} bytes", 0)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        prefix = body[: error.start].decode("utf-8-sig", errors="replace")
        raise SignalParseError("the signal is not valid UTF-8", len(prefix)) from None
    return parse_signal(text, default_symbol=default_symbol, now=now)


def check_signal(signal: ParsedSignal, *, now: datetime | None = None) -> ParsedSignal:
    """The money rules every parsed signal obeys, for a signal built some other way (the
    language-model fallback, a smart trade typed by hand): the same signal with its take-profits
    nearest first, or SignalParseError (position 0: there is no body to point into)."""
    return finish(signal, {}, now)
