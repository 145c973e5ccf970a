"""A bot's stored settings validated once per content for its reads (``read_params``): the same
answers as validating each time, and an edited bot never read with the settings it had."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from autogrid.bots import read_params
from autogrid.bots.configs import GridParams
from autogrid.bots.schemas import BreakerSettings
from tests.bots.factories import BOTS, DCA_CONFIG, create_bot, dca_body, grid_body, read_bot
from tests.helpers import ApiUser

GRID: dict[str, Any] = grid_body()["config"]


def test_one_content_one_model_and_another_content_its_own() -> None:
    first = read_params.validated(GridParams, dict(GRID))
    assert read_params.validated(GridParams, dict(GRID)) is first  # an equal value read again
    assert first == GridParams.model_validate(GRID)
    edited = read_params.validated(GridParams, {**GRID, "grid_count": 7})
    assert edited.grid_count == 7 and first.grid_count == GRID["grid_count"]
    breaker = read_params.validated(BreakerSettings, {})
    assert read_params.validated(BreakerSettings, {}) is breaker
    assert read_params.validated(GridParams, dict(GRID)) is first  # one memory for every model


def test_an_invalid_value_raises_each_time_and_is_not_remembered() -> None:
    bad = {**GRID, "grid_count": -1}
    for _ in range(2):
        with pytest.raises(ValidationError):
            read_params.validated(GridParams, bad)
    assert all(key[1] != repr(bad) for key in read_params._remembered)


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_params, "MAX_REMEMBERED", 2)
    monkeypatch.setattr(read_params, "_remembered", {})
    for count in (5, 6, 7):
        read_params.validated(GridParams, {**GRID, "grid_count": count})
    assert len(read_params._remembered) == 1


@pytest.mark.parametrize(
    ("body", "edit"),
    [
        (grid_body(), {"config": {**GRID, "grid_count": 7}}),
        (grid_body(), {"breaker": {"max_orders_per_minute": 9}}),
        (grid_body(), {"paper": {**grid_body()["paper"], "balances": {"USDT": "77777"}}}),
        (dca_body(), {"config": {**DCA_CONFIG, "base_order_volume": "75"}}),
    ],
)
async def test_an_edited_bot_reads_with_its_new_settings(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any], edit: dict[str, Any]
) -> None:
    bot = await create_bot(client, user, body)
    before = await read_bot(client, user, bot["id"])
    edited = await client.patch(f"{BOTS}/{bot['id']}", json=edit, headers=user.headers)
    assert edited.status_code == 200, edited.text

    after = await read_bot(client, user, bot["id"])

    (field,) = edit
    assert after[field] != before[field]
    assert after[field] == edited.json()[field]
    derived = {field, "updated_at", "investment", "max_deal_funds"}  # what an edit changes
    assert {k: v for k, v in after.items() if k not in derived} == {
        k: v for k, v in before.items() if k not in derived
    }


async def test_reads_answer_as_validating_each_time(
    client: httpx.AsyncClient, user: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    for body in (grid_body(), dca_body()):
        await create_bot(client, user, body)
    remembered = (await client.get(BOTS, headers=user.headers)).content
    remembered_again = (await client.get(BOTS, headers=user.headers)).content

    def validate_each_time(model: Any, data: Any) -> Any:
        return model.model_validate(data)

    monkeypatch.setattr("autogrid.bots.schemas.validated", validate_each_time)
    monkeypatch.setattr("autogrid.bots.bot_reads._remembered", {})  # each read model made again
    assert remembered == remembered_again == (await client.get(BOTS, headers=user.headers)).content
