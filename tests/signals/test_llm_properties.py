"""Property: whatever a model answers, the fallback yields a signal that obeys the money rules
(marked as the model's) or a typed LlmFailure, never another exception and never an action."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import fields
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from autogrid.core.config import Settings
from autogrid.signals.grammar import check_signal
from autogrid.signals.llm_fallback import LlmFailure, read_with_llm
from autogrid.signals.llm_schema import LLM_FORMAT, SIGNAL_SCHEMA, signal_from_answer
from autogrid.signals.model import ParsedSignal, SignalParseError
from tests.llm_sim import DEFAULT_KEY, LlmSimulator
from tests.signals.test_llm_fallback import CHATTY, VALID

FIELDS = sorted(SIGNAL_SCHEMA["properties"])
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
DECIMAL_TEXT = st.sampled_from(["0", "1", "65000", "63000", "67000.5", "100", "101", "0.0001"])
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "action": st.sampled_from(["buy", "sell", "close_all", "reverse", "pause", "short", None]),
    "symbol": st.sampled_from(["BTC/USDT", "ETH/BTC", "btc/usdt", "BTCUSDT", "", None]),
    "order_kind": st.sampled_from(["market", "limit", "stop", None]),
    "price": DECIMAL_TEXT | JSON_SCALARS,
    "stop_loss": DECIMAL_TEXT | JSON_SCALARS,
    "amount": st.none()
    | st.fixed_dictionaries(
        {"value": DECIMAL_TEXT | JSON_SCALARS, "unit": st.sampled_from(["quote", "percent", "x"])}
    ),
    "entry_zone": st.none()
    | st.fixed_dictionaries({"low": DECIMAL_TEXT, "high": DECIMAL_TEXT | JSON_SCALARS}),
    "take_profits": st.lists(
        st.fixed_dictionaries(
            {"price": DECIMAL_TEXT | JSON_SCALARS, "share_percent": st.none() | DECIMAL_TEXT}
        ),
        max_size=12,
    ),
    "tag": st.none() | st.text(max_size=70),
}
NEAR_VALID = st.fixed_dictionaries(
    {}, optional={name: FIELD_VALUES[name] for name in FIELDS}
) | st.builds(
    lambda changes: {**VALID, **changes},
    st.dictionaries(st.sampled_from([*FIELDS, "bot_id", "sent_at"]), JSON_SCALARS, max_size=2),
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def coherent_signals(draw: st.DrawFn) -> dict[str, Any]:
    """Long entries whose levels obey the money rules, so the success branch is exercised."""
    entry = draw(st.integers(2, 10**6))
    targets = draw(st.lists(st.integers(entry + 1, 2 * entry + 2), unique=True, max_size=4))
    return {
        **VALID,
        "price": str(entry),
        "stop_loss": draw(st.none() | st.integers(1, entry - 1).map(str)),
        "take_profits": [{"price": str(t), "share_percent": None} for t in targets],
    }


ANSWERS = (
    st.text(max_size=200)
    | coherent_signals().map(lambda signal: json.dumps({"signal": signal}))
    | ANY_JSON.map(json.dumps)
    | NEAR_VALID.map(lambda signal: json.dumps({"signal": signal}))
    | st.builds(lambda signal: json.dumps({"signal": signal}), ANY_JSON)
)
VALID_ANSWER = json.dumps({"signal": VALID})
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_is_a_checked_model_signal(signal: ParsedSignal) -> None:
    assert signal.format == LLM_FORMAT
    assert check_signal(signal) == signal  # already obeys every money rule, nearest target first
    for field in fields(signal):
        value = getattr(signal, field.name)
        assert not isinstance(value, float)
    assert signal.price is None or isinstance(signal.price, Decimal)
    assert signal.alert_id is None and signal.sent_at is None and signal.max_lag_seconds is None


@pytest.fixture(scope="module")
def sim() -> Iterator[LlmSimulator]:
    with LlmSimulator().running() as running:
        yield running


@PROPERTY
@given(content=ANSWERS)
@example(content=VALID_ANSWER)
def test_any_answer_text_is_a_schema_signal_or_a_typed_failure(content: str) -> None:
    try:
        signal = signal_from_answer(content)
    except LlmFailure:
        return
    assert signal.format == LLM_FORMAT
    # A money-rule refusal is a SignalParseError, which the fallback turns into LlmAnswerInvalid.
    with contextlib.suppress(SignalParseError):
        assert_is_a_checked_model_signal(check_signal(signal))
        event("a valid signal")


@settings(PROPERTY, max_examples=120)
@given(content=ANSWERS)
@example(content=VALID_ANSWER)
def test_any_answer_from_the_server_is_a_checked_signal_or_a_typed_failure(
    sim: LlmSimulator, content: str
) -> None:
    model = sim.answer(content)
    config = Settings(
        _env_file=None,
        signal_llm_url=sim.base_url,
        signal_llm_model=model,
        signal_llm_api_key=DEFAULT_KEY,
        signal_llm_timeout_seconds=30,
    )
    try:
        signal = asyncio.run(read_with_llm(CHATTY, settings=config))
    except LlmFailure as failure:
        assert failure.reason and DEFAULT_KEY not in str(failure)
    else:
        assert_is_a_checked_model_signal(signal)
        event("a valid signal")
    assert len(sim.requests_for(model)) == 1


def envelope(choices: Any) -> str:
    return json.dumps(
        {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": choices}
    )


MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        "role": JSON_SCALARS,
        "content": ANSWERS | JSON_SCALARS,
        "refusal": JSON_SCALARS,
    },
)
CHOICES = st.fixed_dictionaries(
    {}, optional={"message": MESSAGES | JSON_SCALARS, "finish_reason": JSON_SCALARS}
)
BODIES = (
    st.text(max_size=200)
    | ANY_JSON.map(json.dumps)
    | st.lists(CHOICES | JSON_SCALARS, max_size=2).map(envelope)
    | ANY_JSON.map(envelope)
)


@settings(PROPERTY, max_examples=120)
@given(body=BODIES, status=st.sampled_from([200, 200, 200, 201, 400, 404, 422, 429, 500, 503]))
def test_any_http_body_from_the_server_is_a_checked_signal_or_a_typed_failure(
    sim: LlmSimulator, body: str, status: int
) -> None:
    model = sim.raw(body, status)
    config = Settings(
        _env_file=None,
        signal_llm_url=sim.base_url,
        signal_llm_model=model,
        signal_llm_api_key=DEFAULT_KEY,
        signal_llm_timeout_seconds=30,
    )
    try:
        signal = asyncio.run(read_with_llm(CHATTY, settings=config))
    except LlmFailure as failure:
        assert failure.reason
    else:
        assert_is_a_checked_model_signal(signal)
