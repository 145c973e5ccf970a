"""The JSON a language model must answer with, derived from ParsedSignal, and its strict reading.

Both the schema sent to the model and the validation of its answer walk the same type hints of
the ParsedSignal dataclass, so a field added to the model is asked for and read back the same
way (a field of a type not taught here fails loudly at import, not silently at run time).
Decimals travel as strings ("65000.5"): a JSON number may be read as a binary float on either
side, and money is never a float. Pure: no I/O.

The answer is wrapped as ``{"signal": {...} | null}`` so that a model can say "this text is not
a signal" without inventing a trade; chat must never become an order.
"""

from __future__ import annotations

import json
import re
import types
from dataclasses import MISSING, fields, is_dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Union, get_args, get_origin, get_type_hints

from autogrid.signals.grammar.validate import MAX_TAKE_PROFITS
from autogrid.signals.llm_errors import LlmAnswerInvalid
from autogrid.signals.model import ParsedSignal

LLM_FORMAT = "llm"  # ParsedSignal.format of a signal the model understood
# Fields the model is not asked for. `format` is ours to set. The sender's alert id, sent-at time
# and allowed lag drive deduplication and staleness: a model guessing them could make a fresh
# signal look stale or collide with another one, so only a machine format may carry them.
NOT_ASKED = frozenset({"format", "alert_id", "sent_at", "max_lag_seconds"})
MAX_ANSWER_CHARS = 16 * 1024  # a full signal is well under 1 KiB
_DECIMAL_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"
_DECIMAL = re.compile(_DECIMAL_PATTERN.strip("^$"))
_SYMBOL_PATTERN = r"^[A-Z0-9]{1,15}/[A-Z0-9]{1,15}$"
_MAX_TEXT = 64
# Per-field refinements of the plain type (the money rules are checked afterwards anyway).
_STRING_PATTERNS = {"symbol": _SYMBOL_PATTERN}


def _optional_inner(hint: Any) -> Any | None:
    """X for `X | None`, else None."""
    if get_origin(hint) in (Union, types.UnionType):
        inner = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(inner) == 1 and len(get_args(hint)) == 2:
            return inner[0]
    return None


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _type_schema(hint: Any, name: str) -> dict[str, Any]:
    inner = _optional_inner(hint)
    if inner is not None:
        return {"anyOf": [_type_schema(inner, name), {"type": "null"}]}
    if hint is Decimal:
        return {"type": "string", "pattern": _DECIMAL_PATTERN}
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return {"type": "string", "enum": [member.value for member in hint]}
    if hint is str:
        if name in _STRING_PATTERNS:
            return {"type": "string", "pattern": _STRING_PATTERNS[name]}
        return {"type": "string", "maxLength": _MAX_TEXT}
    if get_origin(hint) is tuple:
        return {
            "type": "array",
            "items": _type_schema(get_args(hint)[0], name),
            "maxItems": MAX_TAKE_PROFITS,
        }
    if isinstance(hint, type) and is_dataclass(hint):
        return object_schema(hint)
    raise TypeError(f"the language-model schema does not know how to ask for {name}: {hint}")


def object_schema(cls: type, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A strict JSON schema of a dataclass: every field required (null where optional), no
    other property; the form OpenAI's structured outputs accept in strict mode."""
    hints = _hints(cls)
    names = [field.name for field in fields(cls) if field.name not in exclude]
    return {
        "type": "object",
        "properties": {name: _type_schema(hints[name], name) for name in names},
        "required": names,
        "additionalProperties": False,
    }


SIGNAL_SCHEMA = object_schema(ParsedSignal, NOT_ASKED)
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"signal": {"anyOf": [SIGNAL_SCHEMA, {"type": "null"}]}},
    "required": ["signal"],
    "additionalProperties": False,
}


class _Refused(ValueError):
    """A value that breaks the schema; `path` says where."""


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Refused("a key is repeated")
    return document


def _read(hint: Any, value: Any, path: str) -> Any:
    inner = _optional_inner(hint)
    if inner is not None:
        return None if value is None else _read(inner, value, path)
    if hint is Decimal:
        return _decimal(value, path)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        if not isinstance(value, str) or value not in {member.value for member in hint}:
            allowed = ", ".join(member.value for member in hint)
            raise _Refused(f"{path} must be one of {allowed}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str) or not 0 < len(value) <= _MAX_TEXT:
            raise _Refused(f"{path} must be a text of 1 to {_MAX_TEXT} characters")
        return value
    if get_origin(hint) is tuple:
        if not isinstance(value, list) or len(value) > MAX_TAKE_PROFITS:
            raise _Refused(f"{path} must be a list of at most {MAX_TAKE_PROFITS} items")
        item = get_args(hint)[0]
        return tuple(_read(item, element, f"{path}[{i}]") for i, element in enumerate(value))
    if isinstance(hint, type) and is_dataclass(hint):
        return hint(**_read_fields(hint, value, path, frozenset()))
    raise TypeError(f"no reader for {path}: {hint}")  # pragma: no cover - caught by the schema


def _decimal(value: Any, path: str) -> Decimal:
    # Digits only: no sign, exponent, NaN or Infinity, and never a JSON number.
    if not isinstance(value, str) or _DECIMAL.fullmatch(value) is None:
        raise _Refused(f'{path} must be a decimal written as a string, like "65000.5"')
    return Decimal(value)


def _read_fields(cls: type, value: Any, path: str, exclude: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Refused(f"{path} must be an object")
    known = {field.name: field for field in fields(cls) if field.name not in exclude}
    extra = sorted(set(value) - set(known))
    if extra:
        raise _Refused(f"{path} has fields outside the schema: {', '.join(extra[:5])}")
    hints = _hints(cls)
    result: dict[str, Any] = {}
    for name, field in known.items():
        if name in value:
            result[name] = _read(hints[name], value[name], f"{path}.{name}")
        elif field.default is MISSING and field.default_factory is MISSING:
            raise _Refused(f"{path}.{name} is missing")
    return result


def signal_from_answer(content: str) -> ParsedSignal:
    """The model's answer text -> the ParsedSignal it describes (format "llm"), not yet checked
    against the money rules; LlmAnswerInvalid when it is not exactly the schema."""
    if len(content) > MAX_ANSWER_CHARS:
        raise LlmAnswerInvalid(f"the answer is longer than {MAX_ANSWER_CHARS} characters")
    try:
        document = json.loads(
            content, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant
        )
        if not isinstance(document, dict) or set(document) != {"signal"}:
            raise _Refused('the answer must be an object with the one field "signal"')
        if document["signal"] is None:
            raise _Refused("the model found no trading signal in the text")
        values = _read_fields(ParsedSignal, document["signal"], "signal", NOT_ASKED)
        return ParsedSignal(**values, format=LLM_FORMAT)
    except _Refused as error:
        raise LlmAnswerInvalid(str(error)) from None
    except (ValueError, RecursionError):
        raise LlmAnswerInvalid("the answer is not valid JSON") from None
