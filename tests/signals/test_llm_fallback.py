"""The language-model fallback driven through the real openai client against a local server that
speaks the chat-completions protocol: off by default (no request at all), the grammar first,
the answer held to the schema and the money rules, every failure typed, the key never shown."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from autogrid.core.config import Settings
from autogrid.observability import scrub
from autogrid.signals.grammar import parse_signal
from autogrid.signals.llm_fallback import (
    LlmAnswerInvalid,
    LlmFailure,
    LlmUnavailable,
    looks_like_free_text,
    parse_with_fallback,
    read_with_llm,
)
from autogrid.signals.llm_schema import ANSWER_SCHEMA
from autogrid.signals.model import AmountUnit, OrderKind, SignalAction, SignalParseError
from tests.llm_sim import DEFAULT_KEY, LlmSimulator

# Chat the grammar refuses (words outside its vocabulary), but a person reads as a signal.
CHATTY = "hey fam, grabbing some BTC/USDT here around 65000, stop 63000, first target 67000"
VALID = {
    "action": "buy",
    "symbol": "BTC/USDT",
    "order_kind": "limit",
    "price": "65000",
    "amount": {"value": "5", "unit": "percent"},
    "entry_zone": None,
    "stop_loss": "63000",
    "take_profits": [
        {"price": "69000", "share_percent": None},
        {"price": "67000.5", "share_percent": "50"},
    ],
    "tag": None,
}


@pytest.fixture(scope="module")
def sim() -> Iterator[LlmSimulator]:
    with LlmSimulator().running() as running:
        yield running


def settings_for(sim: LlmSimulator, model: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "signal_llm_url": sim.base_url,
        "signal_llm_model": model,
        "signal_llm_api_key": DEFAULT_KEY,
        "signal_llm_timeout_seconds": 30,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def answer(signal: dict[str, Any] | None) -> str:
    return json.dumps({"signal": signal})


def test_the_chatty_body_is_refused_by_the_grammar_and_looks_like_free_text() -> None:
    with pytest.raises(SignalParseError):
        parse_signal(CHATTY)
    assert looks_like_free_text(CHATTY)


async def test_off_by_default_the_grammar_error_propagates_and_nothing_is_sent(
    sim: LlmSimulator,
) -> None:
    model = sim.answer(answer(VALID))
    settings = Settings(_env_file=None, signal_llm_model=model)
    assert settings.signal_llm_url == ""
    before = len(sim.requests)
    with pytest.raises(SignalParseError) as caught:
        await parse_with_fallback(CHATTY, settings=settings)
    assert type(caught.value) is SignalParseError
    with pytest.raises(SignalParseError) as direct:
        parse_signal(CHATTY)
    assert (caught.value.message, caught.value.position) == (
        direct.value.message,
        direct.value.position,
    )
    assert len(sim.requests) == before and sim.requests_for(model) == []


@pytest.mark.parametrize(
    "body",
    [
        "BUY BTC/USDT @ 65000 SL 63000 TP1 67000",  # the grammar reads it: no model needed
        '{"action": "buyy", "ticker": "BTCUSDT"}',  # a broken machine format: its sender fixes it
        "SIGNAL=BUYY\nSYMBOL=BTCUSDT",
        "buy some BTC/USDT " + "please " * 700,  # longer than one Telegram message
    ],
)
async def test_only_free_text_the_grammar_refused_reaches_the_model(
    sim: LlmSimulator, body: str
) -> None:
    model = sim.answer(answer(VALID))
    try:
        expected = parse_signal(body)
    except SignalParseError as error:
        with pytest.raises(SignalParseError) as caught:
            await parse_with_fallback(body, settings=settings_for(sim, model))
        assert type(caught.value) is SignalParseError and caught.value.message == error.message
    else:
        assert await parse_with_fallback(body, settings=settings_for(sim, model)) == expected
    assert sim.requests_for(model) == []


async def test_a_valid_answer_becomes_a_checked_signal_marked_as_from_the_model(
    sim: LlmSimulator,
) -> None:
    model = sim.answer(answer(VALID))
    signal = await parse_with_fallback(CHATTY, settings=settings_for(sim, model))
    assert signal.format == "llm"
    assert (signal.action, signal.symbol, signal.order_kind) == (
        SignalAction.BUY,
        "BTC/USDT",
        OrderKind.LIMIT,
    )
    assert signal.price == Decimal("65000") and signal.stop_loss == Decimal("63000")
    assert signal.amount is not None and signal.amount.unit is AmountUnit.PERCENT
    # check_signal ran: take-profits nearest first, decimals exact.
    assert [step.price for step in signal.take_profits] == [Decimal("67000.5"), Decimal("69000")]
    assert signal.take_profits[0].share_percent == Decimal("50")
    assert signal.alert_id is None and signal.sent_at is None and signal.max_lag_seconds is None

    [request] = sim.requests_for(model)
    assert request["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert request["accept_encoding"] == "identity"  # a compressed answer could outgrow the cap
    body = request["body"]
    system, user = body["messages"]
    assert (system["role"], user["role"], user["content"]) == ("system", "user", CHATTY)
    assert CHATTY not in system["content"]  # the sender's text is data, never the instructions
    assert json.dumps(ANSWER_SCHEMA, separators=(",", ":")) in system["content"]
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"] == ANSWER_SCHEMA
    assert body["temperature"] == 0 and body["max_tokens"] > 0


async def test_a_server_without_structured_outputs_is_asked_for_a_json_object(
    sim: LlmSimulator,
) -> None:
    scripted = sim.answer(answer(VALID))
    model = f"json-object-only:{scripted}"
    signal = await read_with_llm(CHATTY, settings=settings_for(sim, model))
    assert signal.format == "llm" and signal.symbol == "BTC/USDT"
    formats = [r["body"]["response_format"]["type"] for r in sim.requests_for(model)]
    assert formats == ["json_schema", "json_object"]


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("rate-limited", "rate limit was reached (HTTP 429; retry after 7 s)"),
        ("broken", "answered HTTP 500"),
        ("oversized", "larger than 65536 bytes"),
        ("oversized-chunked", "larger than 65536 bytes"),
        ("missing-model", "answered HTTP 404"),
    ],
)
async def test_no_usable_answer_is_llm_unavailable(
    sim: LlmSimulator, model: str, reason: str
) -> None:
    with pytest.raises(LlmUnavailable) as caught:
        await read_with_llm(CHATTY, settings=settings_for(sim, model))
    assert reason in caught.value.reason
    assert len(sim.requests_for(model)) == 1  # no retries: a late signal is a stale signal


@pytest.mark.parametrize("model", ["garbage-json", "garbage-html"])
async def test_a_body_that_is_not_json_at_all_is_a_typed_failure(
    sim: LlmSimulator, model: str
) -> None:
    with pytest.raises(LlmFailure) as caught:
        await read_with_llm(CHATTY, settings=settings_for(sim, model))
    assert caught.value.reason


async def test_an_answer_slower_than_the_timeout_is_llm_unavailable(sim: LlmSimulator) -> None:
    with pytest.raises(LlmUnavailable) as caught:
        await read_with_llm(
            CHATTY, settings=settings_for(sim, "slow", signal_llm_timeout_seconds=0.3)
        )
    assert "SIGNAL_LLM_TIMEOUT_SECONDS" in caught.value.reason


@pytest.mark.parametrize(
    ("model_or_content", "reason"),
    [
        ("refuse", "refused to answer"),
        ("cut", "cut off"),
        ("not-a-completion", "not a chat completion"),
        ("this is not json", "not valid JSON"),
        ('{"signal": {"action": "buy"}, "also": 1}', 'the one field "signal"'),
        (answer(None), "no trading signal"),
        (answer({**VALID, "price": 65000}), "signal.price must be a decimal written as a string"),
        (answer({**VALID, "price": "6.5e4"}), "signal.price must be a decimal"),
        (answer({**VALID, "price": "NaN"}), "signal.price must be a decimal"),
        (answer({**VALID, "action": "short"}), "signal.action must be one of"),
        (answer({**VALID, "bot_id": 7}), "fields outside the schema: bot_id"),
        (answer({**VALID, "sent_at": "2020-01-01T00:00:00Z"}), "outside the schema: sent_at"),
        (answer({**VALID, "format": "tradingview"}), "outside the schema: format"),
        (answer({"symbol": "BTC/USDT"}), "signal.action is missing"),
        ('{"signal": {"action": "buy", "action": "sell"}}', "a key is repeated"),
        # Inside the schema, but a long's stop above its entry loses money by construction.
        (answer({**VALID, "stop_loss": "66000"}), "breaks a money rule: the stop loss 66000"),
        (answer({**VALID, "symbol": "btc/usdt"}), "breaks a money rule: the symbol"),
    ],
)
async def test_an_answer_that_is_not_a_valid_signal_is_llm_answer_invalid(
    sim: LlmSimulator, model_or_content: str, reason: str
) -> None:
    fixed = {"refuse", "cut", "not-a-completion"}
    model = model_or_content if model_or_content in fixed else sim.answer(model_or_content)
    with pytest.raises(LlmAnswerInvalid) as caught:
        await parse_with_fallback(CHATTY, settings=settings_for(sim, model))
    assert reason in caught.value.reason
    # Told after the grammar's own refusal, at its position: an unparsable signal like any other.
    with pytest.raises(SignalParseError) as grammar:
        parse_signal(CHATTY)
    assert caught.value.grammar_error is not None
    assert caught.value.position == grammar.value.position
    assert str(caught.value.message).startswith(grammar.value.message)


async def test_the_key_never_reaches_a_log_line_or_an_error_text(
    sim: LlmSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the client library and httpx log requests at DEBUG
    wrong_key = "sk-wrong-" + "7f3a9c1e5b2d4f6a8c0e"
    model = sim.answer(answer(VALID))
    with pytest.raises(LlmUnavailable) as caught:
        await parse_with_fallback(
            CHATTY, settings=settings_for(sim, model, signal_llm_api_key=wrong_key)
        )
    assert "refused SIGNAL_LLM_API_KEY (HTTP 401)" in caught.value.reason
    [request] = sim.requests_for(model)
    assert request["authorization"] == f"Bearer {wrong_key}"  # it was sent, and echoed back
    assert await read_with_llm(CHATTY, settings=settings_for(sim, model))  # the right key works
    for key in (wrong_key, DEFAULT_KEY):
        assert key not in str(caught.value) and key not in repr(caught.value)
        assert key not in caplog.text
        assert all(key not in str(record.args) for record in caplog.records)
        # Registered with the scrubber too, which cleans every log line our handlers write.
        assert key not in scrub(f"the server said: {key}!")
    assert any(record.name.startswith(("openai", "httpx")) for record in caplog.records)


async def test_an_unreachable_endpoint_is_llm_unavailable() -> None:
    settings = Settings(
        _env_file=None, signal_llm_url="http://127.0.0.1:9/v1", signal_llm_model="m"
    )
    with pytest.raises(LlmFailure) as caught:
        await read_with_llm(CHATTY, settings=settings)
    assert isinstance(caught.value, LlmUnavailable)
    assert "could not reach SIGNAL_LLM_URL" in caught.value.reason


async def test_without_a_key_no_authorization_header_is_sent(
    sim: LlmSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client library would otherwise read a key from the process environment.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-0000")
    model = sim.answer(answer(VALID))
    with pytest.raises(LlmUnavailable, match="HTTP 401"):
        await read_with_llm(CHATTY, settings=settings_for(sim, model, signal_llm_api_key=None))
    [request] = sim.requests_for(model)
    assert request["authorization"] is None
