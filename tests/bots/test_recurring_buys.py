"""Recurring buys through the bot API: a bot without deals, what it must give, where a schedule
may run, and the next run times the bot shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from croniter import croniter

from autogrid.bots import configs
from autogrid.core.db import Database
from tests.bots.factories import BOTS, DCA_CONFIG, create_bot, dca_body, grid_body, set_status
from tests.bots.test_create import live_paper, post
from tests.helpers import ApiUser, assert_error_shape

WEEKLY_PARIS = {"amount": "50", "cron": "0 9 * * MON", "timezone": "Europe/Paris"}


def buys_only(**schedule: Any) -> dict[str, Any]:
    body = grid_body(name="stack sats", type="dca")
    body["config"] = {"deals": False, "schedule": {**WEEKLY_PARIS, **schedule}}
    return live_paper(body)


async def test_a_bot_of_recurring_buys_only_shows_its_next_runs(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    bot = await create_bot(client, user, buys_only())

    assert bot["max_deal_funds"] is None
    assert bot["investment"] is None
    runs = [datetime.fromisoformat(t) for t in bot["recurring_buys"]["next_runs"]]
    assert len(runs) == 5
    now = datetime.now(UTC)
    assert now < runs[0] <= now + timedelta(days=7)
    for run in runs:  # Monday 09:00 in Paris, whatever the season (UTC+1 or UTC+2)
        local = run.astimezone(ZoneInfo("Europe/Paris"))
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    walls = [run.astimezone(ZoneInfo("Europe/Paris")).replace(tzinfo=None) for run in runs]
    assert {b - a for a, b in pairwise(walls)} == {timedelta(days=7)}
    assert bot["recurring_buys"] | {"next_runs": None} == {
        "next_runs": None,
        "settled_through": None,
        "buys": 0,
        "last_slot": None,
        "missed": 0,
    }


async def test_a_running_bot_shows_what_it_bought_and_dropped(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user, buys_only())
    started = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    memory = {
        "settled_through": "2026-03-16T08:00:00+00:00",
        "buys": 2,
        "last_slot": "2026-03-16T08:00:00+00:00",
        "missed": 1,
    }
    await set_status(db, bot["id"], "running", started_at=started, state={"recurring_buys": memory})

    shown = (await client.get(f"/api/v1/bots/{bot['id']}", headers=user.headers)).json()

    assert shown["recurring_buys"]["buys"] == 2
    assert shown["recurring_buys"]["missed"] == 1
    assert datetime.fromisoformat(shown["recurring_buys"]["last_slot"]) == datetime(
        2026, 3, 16, 8, 0, tzinfo=UTC
    )
    assert datetime.fromisoformat(shown["recurring_buys"]["settled_through"]) == datetime(
        2026, 3, 16, 8, 0, tzinfo=UTC
    )
    assert datetime.fromisoformat(shown["recurring_buys"]["next_runs"][0]) > datetime.now(UTC)


async def test_a_bot_with_deals_has_no_schedule_block_without_a_schedule(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    bot = await create_bot(client, user, dca_body())
    assert bot["recurring_buys"] is None
    assert bot["config"]["deals"] is True


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"deals": False}, "without deals needs a schedule"),
        (
            {
                "deals": False,
                "schedule": WEEKLY_PARIS,
                "start_condition": {"strategy": "rsi", "timeframe": "15m"},
            },
            "without deals has none",
        ),
        ({**DCA_CONFIG, "base_order_volume": None}, "needs base_order_volume"),
        ({"safety_order_volume": "50", "take_profit": "2"}, "base_order_volume, safety_order_step"),
    ],
)
async def test_what_a_dca_bot_must_give_is_422_naming_it(
    client: httpx.AsyncClient, user: ApiUser, config: dict[str, Any], words: str
) -> None:
    body = live_paper(grid_body(name="dca", type="dca"))
    body["config"] = {k: v for k, v in config.items() if v is not None}
    response = await post(client, user, body)
    assert_error_shape(response, 422, "validation_error")
    assert words in response.json()["error"]["message"]


async def test_a_replay_refuses_a_schedule(client: httpx.AsyncClient, user: ApiUser) -> None:
    body = dca_body(schedule={"amount": "25", "every": "daily"})  # the default body replays
    response = await post(client, user, body)
    assert_error_shape(response, 422)
    error = response.json()["error"]
    assert "wall clock" in error["message"]
    assert error["details"][0]["loc"][-1] == "schedule"


async def test_a_scheduled_buy_below_the_market_minimum_is_422(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    response = await post(client, user, buys_only(amount="1"))
    assert_error_shape(response, 422)
    assert "minimum order cost" in response.json()["error"]["message"]


async def test_reading_a_bot_does_not_sample_its_cron_again(
    client: httpx.AsyncClient, user: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron is checked by sampling 200 of its fire times, about 10 ms of CPU: once per
    expression, not again at every read of the bot whose stored config holds it."""
    bot = await create_bot(client, user, buys_only(cron="0 7 * * TUE"))
    samplings: list[str] = []

    class CountingCroniter(croniter):
        def __init__(self, expression: str, *args: Any, **kwargs: Any) -> None:
            samplings.append(expression)
            super().__init__(expression, *args, **kwargs)

    monkeypatch.setattr(configs, "croniter", CountingCroniter)
    for path in (BOTS, f"{BOTS}/{bot['id']}", BOTS):
        response = await client.get(path, headers=user.headers)
        assert response.status_code == 200, response.text
    assert samplings == []
    # A new expression is still checked, and a bad one still refused.
    response = await post(client, user, buys_only(cron="*/30 * * * *"))
    assert_error_shape(response, 422, "validation_error")
    assert samplings == ["*/30 * * * *"]
