"""The language-model reader wired into the entry: free text the grammar refuses is stored
``interpreting`` at once (the sender never waits for the model), then the worker's unit reads it
with the model, outside any transaction, and carries it out like any accepted signal; a model
failure makes it ``unparsable`` with the grammar's position and the model's reason; off, nothing
reaches the model."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.models import Bot, Signal
from autogrid.signals import interpretation, repository
from autogrid.signals.outcomes import SignalOutcome
from tests.bots.factories import create_bot, set_status
from tests.helpers import ApiUser
from tests.llm_sim import DEFAULT_KEY, LlmSimulator
from tests.signals.conftest import make_source, post_signal

# Words outside every grammar's vocabulary that a person reads as "pause the bot".
CHAT = "guys please hold off the grid for a while, market looks shaky"
PAUSE_ANSWER: dict[str, Any] = {
    "signal": {
        "action": "pause",
        "symbol": None,
        "order_kind": "market",
        "price": None,
        "amount": None,
        "entry_zone": None,
        "stop_loss": None,
        "take_profits": [],
        "tag": None,
    }
}


@pytest.fixture(scope="module")
def sim() -> Iterator[LlmSimulator]:
    with LlmSimulator().running() as running:
        yield running


def _llm(sim: LlmSimulator, model: str) -> dict[str, Any]:
    return {
        "signal_llm_url": sim.base_url,
        "signal_llm_model": model,
        "signal_llm_api_key": SecretStr(DEFAULT_KEY),
        "signal_llm_timeout_seconds": 30,
    }


async def _client_with(make_app: Any, make_client: Any, **overrides: Any) -> httpx.AsyncClient:
    application = await make_app(**overrides)
    client: httpx.AsyncClient = make_client(application)
    return client


async def _stored(db: Database, signal_id: int) -> Signal:
    async with db.session_scope() as session:
        signal = await session.get(Signal, signal_id)
        assert signal is not None
        return signal


async def test_free_text_is_interpreting_then_the_model_pauses_the_bot(
    sim: LlmSimulator,
    make_app: Any,
    make_client: Any,
    db: Database,
    settings: Settings,
    user: ApiUser,
) -> None:
    model = sim.answer(json.dumps(PAUSE_ANSWER))
    overrides = _llm(sim, model)
    client = await _client_with(make_app, make_client, **overrides)
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "running")
    source = await make_source(client, user, [bot["id"]])

    answer = await post_signal(client, source["token"], CHAT, "text/plain")
    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "interpreting"
    assert sim.requests_for(model) == []  # never while the sender waits
    signal_id = answer.json()["id"]

    commands = await interpretation.carry_out(
        db, settings.model_copy(update=overrides), signal_id, conservative_market_rules
    )

    assert [c.bot_id for c in commands] == [uuid.UUID(bot["id"])]
    assert len(sim.requests_for(model)) == 1
    stored = await _stored(db, signal_id)
    assert (stored.outcome, stored.format) == ("executed", "llm")
    assert (stored.parsed or {})["action"] == "pause"
    async with db.session_scope() as session:
        row = await session.get(Bot, uuid.UUID(bot["id"]))
        assert row is not None and row.status == "paused"
    # Carried out once: a redelivered message finds it settled and asks the model no more.
    again = await interpretation.carry_out(
        db, settings.model_copy(update=overrides), signal_id, conservative_market_rules
    )
    assert again == [] and len(sim.requests_for(model)) == 1
    # The same body again within the window is a duplicate, before any model.
    repeat = await post_signal(client, source["token"], CHAT, "text/plain")
    assert repeat.json()["outcome"] == "duplicate"


async def test_model_down_makes_it_unparsable_with_the_grammars_position_and_a_reason(
    sim: LlmSimulator,
    make_app: Any,
    make_client: Any,
    db: Database,
    settings: Settings,
    user: ApiUser,
) -> None:
    overrides = _llm(sim, "broken")
    client = await _client_with(make_app, make_client, **overrides)
    source = await make_source(client, user)

    answer = await post_signal(client, source["token"], CHAT, "text/plain")
    assert answer.json()["outcome"] == "interpreting", answer.text
    await interpretation.carry_out(
        db, settings.model_copy(update=overrides), answer.json()["id"], conservative_market_rules
    )

    stored = await _stored(db, answer.json()["id"])
    assert stored.outcome == "unparsable"
    assert stored.error_position is not None
    assert stored.reason is not None and "language model could not read it" in stored.reason


async def test_llm_off_is_unparsable_at_once_and_nothing_reaches_the_model(
    sim: LlmSimulator, client: httpx.AsyncClient, user: ApiUser
) -> None:
    before = len(sim.requests)
    source = await make_source(client, user)

    answer = await post_signal(client, source["token"], CHAT, "text/plain")

    assert answer.status_code == 202
    assert answer.json()["outcome"] == "unparsable"
    assert answer.json()["error_position"] is not None
    assert len(sim.requests) == before


async def test_the_sweep_finds_interpreting_signals_after_the_models_timeout(
    sim: LlmSimulator, make_app: Any, make_client: Any, db: Database, user: ApiUser
) -> None:
    client = await _client_with(make_app, make_client, **_llm(sim, "broken"))
    source = await make_source(client, user)
    answer = await post_signal(client, source["token"], CHAT, "text/plain")
    signal_id = answer.json()["id"]
    now = utcnow() + timedelta(seconds=5)

    async with db.session_scope() as session:
        early = await repository.waiting_since(
            session, {SignalOutcome.INTERPRETING: now - timedelta(seconds=60)}, 10
        )
        due = await repository.waiting_since(session, {SignalOutcome.INTERPRETING: now}, 10)
        not_accepted = await repository.waiting_since(session, {SignalOutcome.ACCEPTED: now}, 10)
    assert (early, due, not_accepted) == ([], [signal_id], [])


async def test_with_the_model_on_a_broken_machine_format_is_unparsable_at_once(
    sim: LlmSimulator, make_app: Any, make_client: Any, user: ApiUser
) -> None:
    model = sim.answer(json.dumps(PAUSE_ANSWER))
    client = await _client_with(make_app, make_client, **_llm(sim, model))
    source = await make_source(client, user)

    # Its sender must see the grammar's error and fix the message; no model guesses it.
    answer = await post_signal(client, source["token"], '{"action": "pause", "ticker": }')

    assert answer.json()["outcome"] == "unparsable", answer.text
    assert answer.json()["error_position"] is not None
    assert sim.requests_for(model) == []
