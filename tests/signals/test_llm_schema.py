"""The schema the model is asked for follows ParsedSignal by construction, in the strict form
OpenAI's structured outputs accept, and its reading refuses anything but that schema."""

from __future__ import annotations

import json
import pickle
from dataclasses import fields
from typing import Any

import pytest

from autogrid.signals.llm_errors import LlmAnswerInvalid, LlmUnavailable
from autogrid.signals.llm_schema import (
    ANSWER_SCHEMA,
    MAX_ANSWER_CHARS,
    NOT_ASKED,
    SIGNAL_SCHEMA,
    signal_from_answer,
)
from autogrid.signals.model import ParsedSignal, SignalAction, SignalParseError


def objects(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found += objects(value)
    elif isinstance(schema, list):
        for value in schema:
            found += objects(value)
    return found


def test_every_signal_field_but_the_senders_metadata_is_asked_for() -> None:
    names = [field.name for field in fields(ParsedSignal)]
    assert list(SIGNAL_SCHEMA["properties"]) == [n for n in names if n not in NOT_ASKED]
    assert SIGNAL_SCHEMA["properties"]["action"]["enum"] == [a.value for a in SignalAction]


def test_the_schema_is_strict_every_object_closed_and_fully_required() -> None:
    found = objects(ANSWER_SCHEMA)
    assert len(found) == 5  # the answer, the signal, its amount, entry zone and take-profit step
    for schema in found:
        assert schema["additionalProperties"] is False
        assert schema["required"] == list(schema["properties"])


def test_decimals_are_strings_in_the_schema() -> None:
    price = SIGNAL_SCHEMA["properties"]["price"]["anyOf"][0]
    assert price["type"] == "string" and "pattern" in price
    json.dumps(ANSWER_SCHEMA)  # serialisable as sent


def test_an_answer_may_leave_out_fields_that_have_a_default() -> None:
    signal = signal_from_answer('{"signal": {"action": "close_all", "symbol": "ETH/USDT"}}')
    assert (signal.action, signal.symbol, signal.format) == (
        SignalAction.CLOSE_ALL,
        "ETH/USDT",
        "llm",
    )


@pytest.mark.parametrize(
    "content",
    [
        "[1, 2]",
        '{"signal": {"action": "buy", "price": "\uff11\uff12"}}',  # full-width digits, escaped
        '{"signal": {"action": "buy", "price": "-5"}}',
        '{"signal": {"action": "buy", "price": NaN}}',
        '{"signal": {"action": "buy", "take_profits": {"price": "1"}}}',
        '{"signal": {"action": "buy", "amount": {"value": "1"}}}',
        '{"signal": {"action": "buy", "tag": ""}}',
        '{"signal": "buy"}',
        "[" * 100_000,
        " " * (MAX_ANSWER_CHARS + 1) + "{}",
    ],
)
def test_anything_off_the_schema_is_refused(content: str) -> None:
    with pytest.raises(LlmAnswerInvalid):
        signal_from_answer(content)


def test_a_failure_survives_crossing_processes_with_its_reason_and_position() -> None:
    grammar = SignalParseError("unknown word 'fam'", 4)
    failure = LlmUnavailable("the endpoint answered HTTP 500").after(grammar)
    copy = pickle.loads(pickle.dumps(failure))
    assert type(copy) is LlmUnavailable and isinstance(copy, SignalParseError)
    assert (copy.reason, copy.position, str(copy)) == (failure.reason, 4, str(failure))
    assert copy.message.startswith("unknown word 'fam'; the language model could not read it")
