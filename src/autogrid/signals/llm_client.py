"""One chat-completions request to an OpenAI-compatible endpoint, bounded in time and size.

The official ``openai`` package (its 2.x line, which runs on our own pinned httpx; 3.x moved to a
separate HTTP stack) builds the request, authenticates and maps the protocol's errors; this module
adds what a signal path needs on top: no retries (a late signal is a stale signal), one deadline
for the whole exchange, a cap on the bytes read (headers say nothing trustworthy about size), and
every failure turned into LlmUnavailable / LlmAnswerInvalid with our own wording, so neither the
key nor a server's error text reaches a stored outcome or a log line.

The package still honours the standard OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_CUSTOM_HEADERS
environment variables of the process (headers for OpenAI's own service); the URL, model and key
come only from our settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

from autogrid.core.config import Settings
from autogrid.observability import register_secret
from autogrid.signals.llm_errors import LlmAnswerInvalid, LlmUnavailable

logger = logging.getLogger(__name__)

# The largest HTTP body read from the endpoint, error bodies included. A signal's answer and its
# envelope are a few KiB; the rest would only cost memory.
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ANSWER_TOKENS = 1024  # bounds the model's cost; a signal is about 200 tokens
SCHEMA_NAME = "trading_signal"


class ResponseTooLarge(Exception):
    """Raised inside the transport when an answer outgrows MAX_RESPONSE_BYTES."""


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CappedTransport(httpx.AsyncBaseTransport):
    """Refuses answers larger than `limit` bytes, or compressed ones (whose decoded size the
    raw byte count does not bound), before they are read in full."""

    def __init__(self, limit: int = MAX_RESPONSE_BYTES) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        length = response.headers.get("content-length", "")
        encoding = response.headers.get("content-encoding", "identity").lower()
        if (length.isdigit() and int(length) > self._limit) or encoding != "identity":
            await response.aclose()
            raise ResponseTooLarge
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, self._limit),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _client(settings: Settings, http: httpx.AsyncClient) -> AsyncOpenAI:
    key = settings.signal_llm_api_key
    secret = "" if key is None else key.get_secret_value()
    # httpx and openai log request details at DEBUG; the key must be scrubbed from all of them.
    register_secret(secret)

    async def api_key() -> str:
        # A provider rather than the string: no key then means no Authorization header (a local
        # server needs none), where an empty string would make the package read OPENAI_API_KEY
        # from the environment, or refuse to start.
        return secret

    return AsyncOpenAI(
        base_url=settings.signal_llm_url,
        api_key=api_key,
        max_retries=0,
        timeout=settings.signal_llm_timeout_seconds,
        http_client=http,
        default_headers={"Accept-Encoding": "identity"},
    )


def _response_format(strict_schema: bool, schema: dict[str, Any]) -> dict[str, Any]:
    if strict_schema:
        return {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": True},
        }
    return {"type": "json_object"}


async def complete_json(
    settings: Settings, *, system: str, user: str, schema: dict[str, Any]
) -> str:
    """The assistant's answer text to one system + user exchange, asked for JSON matching
    `schema`. A server that refuses structured outputs (400) is asked once more for a plain JSON
    object, within the same deadline. Raises LlmUnavailable or LlmAnswerInvalid only."""
    try:
        async with (
            asyncio.timeout(settings.signal_llm_timeout_seconds),
            httpx.AsyncClient(transport=CappedTransport(), follow_redirects=False) as http,
            _client(settings, http) as client,
        ):
            try:
                return await _ask(client, settings, system, user, _response_format(True, schema))
            except openai.BadRequestError:
                logger.info("the language model refused structured outputs; asking for JSON")
                return await _ask(client, settings, system, user, _response_format(False, schema))
    except TimeoutError:
        raise LlmUnavailable("no answer within SIGNAL_LLM_TIMEOUT_SECONDS") from None
    except openai.APIError as error:
        raise _unavailable(error) from None
    except (LlmAnswerInvalid, LlmUnavailable):
        raise
    except ValueError:
        # The package decodes a body labelled JSON without catching its decode error (a proxy's
        # HTML error page answered with 200).
        raise LlmUnavailable("the endpoint's answer is not JSON") from None


async def _ask(
    client: AsyncOpenAI, settings: Settings, system: str, user: str, response_format: Any
) -> str:
    completion = await client.chat.completions.create(
        model=settings.signal_llm_model,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        response_format=response_format,
        # No key: no Authorization header at all (the package insists on one being named).
        extra_headers={} if settings.signal_llm_api_key else {"Authorization": openai.omit},
        temperature=0,
        max_tokens=MAX_ANSWER_TOKENS,
        n=1,
    )
    try:
        # The package does not validate the body against its types: any shape may arrive here.
        choice = completion.choices[0]
        message = choice.message
        refusal, content, finish = message.refusal, message.content, choice.finish_reason
    except (AttributeError, LookupError, TypeError, ValueError):
        raise LlmAnswerInvalid("the answer is not a chat completion") from None
    if refusal:
        raise LlmAnswerInvalid("the model refused to answer")
    if finish == "length":
        raise LlmAnswerInvalid("the answer was cut off at its length limit")
    if not isinstance(content, str) or not content.strip():
        raise LlmAnswerInvalid("the answer is empty")
    return content


def _unavailable(error: openai.APIError) -> LlmUnavailable:
    """Our own words for a protocol failure: a server's message may quote the key."""
    if isinstance(error, openai.APITimeoutError):
        return LlmUnavailable("no answer within SIGNAL_LLM_TIMEOUT_SECONDS")
    if isinstance(error, openai.APIConnectionError):
        if _caused_by(error, ResponseTooLarge):
            return LlmUnavailable(f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
        return LlmUnavailable("could not reach SIGNAL_LLM_URL")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return LlmUnavailable(f"the endpoint refused SIGNAL_LLM_API_KEY (HTTP {error.status_code})")
    if isinstance(error, openai.RateLimitError):
        after = error.response.headers.get("retry-after", "")
        hint = f"; retry after {after[:10]} s" if after[:10].replace(".", "").isdigit() else ""
        return LlmUnavailable(f"the endpoint's rate limit was reached (HTTP 429{hint})")
    if isinstance(error, openai.APIStatusError):
        return LlmUnavailable(f"the endpoint answered HTTP {error.status_code}")
    # APIResponseValidationError and the like: an answer the protocol cannot read.
    return LlmUnavailable(
        f"the endpoint's answer is not a chat completion ({type(error).__name__})"
    )


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
