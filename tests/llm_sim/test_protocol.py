"""The simulator answers as OpenAI's chat-completions API does, seen by a plain HTTP client:
a completion, 401 in OpenAI's error shape for a wrong key, 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.llm_sim import DEFAULT_KEY, LlmSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[LlmSimulator]:
    with LlmSimulator().running() as running:
        yield running


def post(sim: LlmSimulator, model: str, key: str = DEFAULT_KEY) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers, timeout=30)


def test_a_scripted_answer_is_a_chat_completion(sim: LlmSimulator) -> None:
    answer = post(sim, sim.answer('{"signal": null}')).json()
    assert answer["object"] == "chat.completion"
    [choice] = answer["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": '{"signal": null}',
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop"


def test_a_wrong_key_gets_openais_error_shape(sim: LlmSimulator) -> None:
    response = post(sim, sim.answer("{}"), key="sk-wrong")
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "invalid_api_key",
        None,
    )


def test_rate_limited_answers_429_with_retry_after(sim: LlmSimulator) -> None:
    response = post(sim, "rate-limited")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
