"""Every operation the OpenAPI links reach from a created object, walked with the object's real id,
as its owner and as another user (OWASP API1).

The schemathesis run (tests/core/test_schemathesis.py) follows the same links, but at its CI budget
most generated create bodies break a rule JSON Schema cannot state and stop at a 422, so it reads
few owned objects by id. Here the owner makes one object of each kind with a valid body, then every
link from its create operation is followed: the owner's reads answer (never 404), and another
user gets the API's 404 from every linked operation, writes included, and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig

from autogrid.backtest.schemas import RankMetric, SortOrder
from autogrid.core.db import Database
from autogrid.models.backtest import Backtest, BacktestSweep
from tests.backtest.api.conftest import body as backtest_body
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import add_credential, create_bot
from tests.helpers import ApiUser, assert_error_shape

API = "/api/v1"
VARY: dict[str, list[Any]] = {"grid_count": [10, 20], "upper_price": ["112000", "115000"]}


def linked_operations(app: FastAPI) -> dict[str, list[tuple[str, str, str]]]:
    """Create path -> (method, path, id parameter) of every operation its links lead to."""
    schema = app.openapi()
    by_id = {
        operation["operationId"]: (method, path)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    linked: dict[str, list[tuple[str, str, str]]] = {}
    for path, methods in schema["paths"].items():
        for response in methods.get("post", {}).get("responses", {}).values():
            for link in response.get("links", {}).values():
                method, target = by_id[link["operationId"]]
                (parameter,) = link["parameters"]
                linked.setdefault(path, []).append((method, target, parameter))
    return linked


async def owned_objects(client: httpx.AsyncClient, db: Database, owner: ApiUser) -> dict[str, str]:
    """One object of each linked kind, owned by ``owner``: create path -> its id."""
    await store_replay_candles(db)  # a paper bot replays stored candles
    bot = await create_bot(client, owner)
    source = await client.post(
        f"{API}/signal-sources",
        json={"name": "tradingview", "bot_ids": [bot["id"]]},
        headers=owner.headers,
    )
    channel = await client.post(
        f"{API}/notifications/channels",
        json={"kind": "webhook", "label": "ops", "url": "https://93.184.216.34/hook"},
        headers=owner.headers,
    )
    for created in (source, channel):
        assert created.status_code == 201, created.text
    # Backtests run in a worker and credentials are verified with the exchange: stored rows.
    sweep = BacktestSweep(
        id=uuid.uuid4(),
        user_id=owner.id,
        vary=VARY,
        rank_by=RankMetric.RETURN_PCT,
        sort_order=SortOrder.DESC,
        runs=4,
    )
    backtest = Backtest(id=uuid.uuid4(), user_id=owner.id, params=backtest_body(), status="queued")
    async with db.session_scope() as session:
        session.add_all([sweep, backtest])
    return {
        f"{API}/bots": bot["id"],
        f"{API}/signal-sources": source.json()["id"],
        f"{API}/notifications/channels": channel.json()["id"],
        f"{API}/credentials": str(await add_credential(db, owner)),
        f"{API}/backtests": str(backtest.id),
        f"{API}/backtests/sweeps": str(sweep.id),
    }


def body_for(method: str, path: str) -> dict[str, Any] | None:
    """A valid body: the API validates it before it looks the object up."""
    if method != "patch":
        return None
    labelled = path.startswith((f"{API}/credentials", f"{API}/notifications"))
    return {"label": "taken"} if labelled else {"name": "taken"}


async def test_linked_operations_show_the_owner_her_objects_and_nobody_else(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    user: ApiUser,
    other_user: ApiUser,
) -> None:
    linked = linked_operations(app)
    # Schemathesis' defaults, not the fuzzing run's schemathesis.toml (it names a users file).
    schema = schemathesis.openapi.from_dict(app.openapi(), config=SchemathesisConfig())
    objects = await owned_objects(client, db, user)
    assert set(objects) == set(linked), "a create operation with links has no object here"
    for create_path, operations in linked.items():
        object_id = objects[create_path]
        reads = [(path, name) for method, path, name in operations if method == "get"]
        assert reads, f"no link from {create_path} reads what it made"
        for method, path, parameter in operations:
            url = path.replace(f"{{{parameter}}}", object_id)
            response = await client.request(
                method, url, json=body_for(method, path), headers=other_user.headers
            )
            assert_error_shape(response, 404, "not_found")
            # Status, headers and body as declared (schemathesis' response checks).
            schema[path][method.upper()].validate_response(response)
        for path, parameter in reads:
            url = path.replace(f"{{{parameter}}}", object_id)
            response = await client.get(url, headers=user.headers)
            # A report of a run still queued is a 409; never a 404 nor a 5xx for the owner.
            assert response.status_code in (200, 409), f"{url}: {response.text}"
            schema[path]["GET"].validate_response(response)
    # The other user's writes (deletes among them) changed nothing: the owner still has them all.
    for create_path, object_id in objects.items():
        read = f"{create_path}/{object_id}"
        assert (await client.get(read, headers=user.headers)).status_code == 200, read
