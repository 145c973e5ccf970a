"""Tokens of a free-text channel signal, each with the character position it starts at.

Emojis, bullets and markdown decoration are dropped here; a letter or digit of another script is
refused (a price written in Arabic-Indic digits must not be half-read as something else).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from autogrid.signals.grammar.values import KNOWN_QUOTES
from autogrid.signals.model import SignalParseError


class Kind(Enum):
    PAIR = "pair"  # BTC/USDT, #BTC/USDT, btc-usdt
    HASHTAG = "hashtag"  # #BTCUSDT, #signal, $BTC
    NUMBER = "number"  # 65000, 64,200.50, $65000, 50% (percent flag), 1) (enumerator flag)
    WORD = "word"  # buy, Take-Profit, TP1
    DASH = "dash"  # hyphen, en or em dash between numbers: a range in an entry, a list elsewhere
    AT = "at"  # @
    NEWLINE = "newline"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    position: int
    percent: bool = False
    enumerator: bool = False  # "1)", "2:", "1️⃣", "1." at a line start: a list index, not a price


_QUOTES = "|".join(KNOWN_QUOTES)
# A base may start with digits (1INCH) but has a letter, so "1/2" is no pair.
_BASE = "[0-9]{0,4}[A-Za-z][A-Za-z0-9]{0,14}"
_TOKEN = re.compile(
    rf"""
    (?P<pair>[#$]?{_BASE}\s?/\s?[A-Za-z][A-Za-z0-9]{{1,14}}
        |[#$]?{_BASE}[-_](?:{_QUOTES})(?![A-Za-z0-9]))
    |(?P<hashtag>[#$]{_BASE})
    |(?P<number>\$?(?:[0-9]{{1,3}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+))
        (?P<percent>[ ]?%)?
    |(?P<word>[A-Za-z][A-Za-z0-9]*(?:['-][A-Za-z][A-Za-z0-9]*)*)
    |(?P<dash>[-\u2013\u2014])
    |(?P<at>@)
    |(?P<newline>\r?\n)
    |(?P<space>[ \t\r\f\v]+)
    |(?P<punct>[:,()|.!*_~>=\[\]/+])
    |(?P<other>.)
    """,
    # ASCII: with IGNORECASE alone, [a-z] would also match the Kelvin sign and the long s.
    re.VERBOSE | re.IGNORECASE | re.DOTALL | re.ASCII,
)
_DROPPED_CATEGORIES = frozenset(
    {"So", "Sk", "Sm", "Sc", "Cf", "Mn", "Me", "Po", "Pi", "Pf", "Ps", "Pe", "Pd", "Zs"}
)
_KEYCAP = "\u20e3"
_VARIATION = "\ufe0f"


def tokens(body: str) -> list[Token]:
    out: list[Token] = []
    line_start = True
    for match in _TOKEN.finditer(body):
        # `percent` is a group inside the number alternative, so lastgroup can name it.
        kind = "number" if match["number"] is not None else match.lastgroup
        text = match.group()
        at = match.start()
        if kind == "number":
            out.append(_number(body, match, line_start))
        elif kind in ("pair", "hashtag", "word", "dash", "at", "newline"):
            out.append(Token(Kind(kind), text, at))
        elif kind == "punct":
            if text in ":)" and out and out[-1].kind is Kind.NUMBER and _small_int(out[-1]):
                # "1)" and "2:" number list items; a percentage is never an index.
                out[-1] = _as_enumerator(out[-1])
        elif kind == "other":
            _refuse_or_drop(text, at, out)
        line_start = kind == "newline" or (line_start and kind in ("space", "other"))
    return out


def _number(body: str, match: re.Match[str], line_start: bool) -> Token:
    text = match.group("number")
    token = Token(Kind.NUMBER, text.lstrip("$"), match.start(), percent=bool(match["percent"]))
    after = body[match.end() : match.end() + 2]
    if _small_int(token) and not token.percent:
        if after.startswith(_KEYCAP) or after.startswith(_VARIATION + _KEYCAP):
            return _as_enumerator(token)
        if line_start and after[:1] == "." and after[1:2] in (" ", "\t", ""):
            return _as_enumerator(token)
    return token


def _small_int(token: Token) -> bool:
    return (
        not token.percent and token.text.isascii() and token.text.isdigit() and len(token.text) <= 2
    )


def _as_enumerator(token: Token) -> Token:
    return Token(token.kind, token.text, token.position, token.percent, enumerator=True)


def _refuse_or_drop(char: str, at: int, out: list[Token]) -> None:
    if char.isascii():
        if char in "\"'`?;&^{}<\\":
            raise SignalParseError(f"unexpected character {char!r}", at)
        return  # other ASCII punctuation (#, $, %, ...) standing alone is decoration
    if unicodedata.category(char) in _DROPPED_CATEGORIES:
        return  # emojis, bullets, arrows, fancy quotes and spaces
    raise SignalParseError(f"unexpected character {char!r}", at)
