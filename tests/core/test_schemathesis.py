"""Schemathesis, every check, against the real API over HTTP, as two registered users.

A small derandomized budget runs in CI; a bigger run by hand is the same command with a larger
``--max-examples`` (and, on a machine with a network, without the exchange exclusions)::

    SCHEMATHESIS_USERS=users.json schemathesis --config-file schemathesis.toml run --checks all \\
        --max-examples 200 http://127.0.0.1:8000/openapi.json

(users.json: the two users, ``alice`` and ``bob``, in the shape ``register`` writes.) The checks
include object-level authorization: alice and bob are ``peers`` under ``[auth.wfc]`` in
schemathesis.toml, so a read of one's own object is replayed as the other and must not return it
(the test asserts the check ran). Each user has a bot, a signal source and a channel before the
run, so reads by id draw real ids from the users' lists; tests/api/test_owned_object_links.py
walks every link from every create operation with real ids, as owner and as the other user.
Then the stateful phase: scenarios that
create a bot, a channel, a signal source or a backtest and go on with its real id through the
OpenAPI links (api/openapi_links.py), on their own small budget in CI (``ci_config``), which
also keeps the coverage phase to its positive cases.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from autogrid.app import create_app
from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import grid_body
from tests.helpers import DEFAULT_PASSWORD, unique_email
from tests.infra import REPO_ROOT

pytestmark = pytest.mark.slow  # half a minute: started first (tests/conftest.py)

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 4
# Every check schemathesis has but max_response_time: a CI machine shared with other jobs makes
# response times say nothing about the API (the run by hand uses `--checks all`).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
]
STARTUP_SECONDS = 60
# The two users, peers under [auth.wfc] in schemathesis.toml, and the run's event log.
PEERS = ("alice", "bob")
EVENTS = "events.ndjson"
# The stateful phase chains real ids through the OpenAPI links (api/openapi_links.py and the ones
# schemathesis infers): its own budget of scenarios, each up to STATEFUL_STEPS calls, on top of
# the run's other phases. The run by hand keeps schemathesis' defaults.
STATEFUL_SCENARIOS = 150
STATEFUL_STEPS = 6
# The coverage phase sends every case it derives from the schema, whatever --max-examples says:
# about 9,000 here, two thirds of them negative (each property of each body in turn given each
# wrong type, a bound crossed...), which made it nine tenths of the run. In CI it sends the
# positive ones (every enum value, boundary and optional property of each operation, ~3,000);
# negative data still reaches every operation from the fuzzing phase, under the same checks
# (negative_data_rejection among them). The run by hand keeps both.
COVERAGE_MODE = "positive"
# The live events stream never ends on its own: schemathesis reads a 200 of it until its request
# timeout (10 s), and the phases draw a few such cases, which made 40 of the run's 66 s on a
# quiet machine. In CI it stops reading after the first event, the `subscribed` one the stream
# always sends first: every case is still sent and its status, headers, auth and peer checks are
# what they were (the stream's events have no schema to check; tests/live/test_sse.py tests
# what a stream sends, replays included). The run by hand reads each stream to the timeout.
STREAM = "GET /api/v1/events/stream"
STREAM_EVENTS_READ = 1
# Operations that talk to an exchange: tests reach loopback only (tests/network_guard.py).
NEEDS_AN_EXCHANGE = [
    "GET /api/v1/exchanges/{exchange_id}/markets",
    "GET /api/v1/exchanges/{exchange_id}/ticker",
    "GET /api/v1/exchanges/{exchange_id}/ohlcv",
    "POST /api/v1/credentials",
    "POST /api/v1/credentials/{credential_id}/validate",
    "POST /api/v1/bots/{bot_id}/start",
]
# Operations that end the users' sessions: after one, every later case would only see 401
# (tests/auth covers them: test_password_change.py and the logout tests).
# A read by id of a bot, signal source or channel: what a peer must get 404 from.
OWNED_READ = re.compile(r"/api/v1/(bots|signal-sources|notifications/channels)/[0-9a-f-]{36}")
ENDS_THE_SESSIONS = [
    "POST /api/v1/auth/logout-all",
    "POST /api/v1/auth/password",
]


def offline_app(settings: Settings) -> FastAPI:
    """The production app, with bot and backtest validation on offline market rules."""
    app = create_app(settings)
    startup = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with startup(application) as state:
            application.state.market_rules_provider = conservative_market_rules
            yield state

    app.router.lifespan_context = lifespan
    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread of this process."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_SECONDS)


def register(base_url: str, name: str) -> dict[str, Any]:
    email = unique_email(name)
    credentials = {"email": email, "password": DEFAULT_PASSWORD}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        assert http.post("/api/v1/auth/register", json=credentials).status_code == 201
        login = http.post("/api/v1/auth/login", json=credentials)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}


def seed_owned_objects(base_url: str, user: dict[str, Any]) -> None:
    """A bot, a signal source and a notification channel of the user's, made before the run.

    Their ids are in the user's lists (GET /bots ...), which schemathesis reads and draws path
    ids from: its reads by id (GET /bots/{bot_id}, /bots/{bot_id}/orders ...) then get real
    objects, and object_level_authorization replays each as the peer. Generated create bodies
    mostly break a rule JSON Schema cannot state (see schemathesis.toml), so without these the
    small budget would read almost no owned object by id.
    """
    headers = {header["name"]: header["value"] for header in user["fixedHeaders"]}
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as http:
        bot = http.post("/api/v1/bots", json=grid_body())
        assert bot.status_code == 201, bot.text
        for path, body in [
            ("/api/v1/signal-sources", {"name": "tradingview", "bot_ids": [bot.json()["id"]]}),
            (
                "/api/v1/notifications/channels",
                {"kind": "webhook", "label": "ops", "url": "https://93.184.216.34/hook"},
            ),
        ]:
            created = http.post(path, json=body)
            assert created.status_code == 201, created.text


@pytest.fixture
async def replay_candles(db: Database) -> None:
    """The candles a seeded paper replay bot (``grid_body``) needs to be created."""
    await store_replay_candles(db)


@pytest.fixture
def production_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "environment": "production",
            "access_token_ttl_seconds": 86_400,
            # Registration and login are exercised hundreds of times from one address.
            "rate_limit_login_per_minute": 10_000,
            "rate_limit_register_per_hour": 100_000,
        }
    )


def ci_config(directory: Path) -> Path:
    """The project's schemathesis.toml with the CI budgets of the coverage and stateful phases,
    and of the events stream's reads."""
    config = directory / "schemathesis.toml"
    config.write_text(
        (REPO_ROOT / "schemathesis.toml").read_text()
        + "\n[phases.coverage]\n"
        + f'generation.mode = "{COVERAGE_MODE}"\n'
        + "\n[phases.stateful]\n"
        + f"max-steps = {STATEFUL_STEPS}\n"
        + f"generation.max-examples = {STATEFUL_SCENARIOS}\n"
        + "\n[[operations]]\n"
        + f'include-name = ["{STREAM}"]\n'
        + f"max-stream-events = {STREAM_EVENTS_READ}\n"
    )
    return config


def schemathesis_command(base_url: str, config: Path, max_examples: int) -> list[str]:
    # No `--auth-wfc`: it would replace the configured [auth.wfc] and drop its peers.
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(max_examples),
        "--generation-deterministic",
        "--seed",
        "1",
        "--workers",
        "1",
        "--no-color",
        # Every request with the identity that made it: the evidence that the peers were probed.
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(config.with_name(EVENTS)),
        *[
            arg
            for name in NEEDS_AN_EXCHANGE + ENDS_THE_SESSIONS
            for arg in ("--exclude-name", name)
        ],
    ]


def peer_probes(events: Path) -> list[str]:
    """Requests object_level_authorization sent as one peer from the other peer's successful GET
    (child cases of it in the run's events), with the status each got."""
    probes: list[str] = []
    for line in events.read_text().splitlines():
        recorder = json.loads(line).get("ScenarioFinished", {}).get("recorder", {})
        cases, interactions = recorder.get("cases", {}), recorder.get("interactions", {})
        for case_id, node in cases.items():
            parent_id = node.get("parent_id")
            if parent_id not in cases or not {case_id, parent_id} <= interactions.keys():
                continue
            probe, owner = node["value"], cases[parent_id]["value"]
            sent, read = interactions[case_id], interactions[parent_id]
            if (
                {probe.get("auth_identity"), owner.get("auth_identity")} == set(PEERS)
                and owner.get("method") == "GET"
                and 200 <= (read.get("response") or {}).get("status_code", 0) < 300
                and sent.get("response")
            ):
                status = sent["response"]["status_code"]
                probes.append(f"{probe['auth_identity']} {sent['request']['uri']} -> {status}")
    return probes


def negative_cases_by_phase(events: Path) -> dict[str, int]:
    """How many cases of negative (schema-breaking) data each phase of the run sent."""
    sent: dict[str, int] = {}
    for line in events.read_text().splitlines():
        recorder = json.loads(line).get("ScenarioFinished", {}).get("recorder", {})
        for node in recorder.get("cases", {}).values():
            meta = node["value"].get("meta") or {}
            if (meta.get("generation") or {}).get("mode") == "negative":
                phase = (meta.get("phase") or {}).get("name", "?")
                sent[phase] = sent.get(phase, 0) + 1
    return sent


def test_schemathesis_finds_no_failure(
    production_settings: Settings, db: Database, replay_candles: None, tmp_path: Path
) -> None:
    app = offline_app(production_settings)
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    with serving(app) as base_url:
        peers = [register(base_url, name) for name in PEERS]
        for peer in peers:
            seed_owned_objects(base_url, peer)
        users = tmp_path / "users.json"
        users.write_text(json.dumps({"auth": peers}))
        command = schemathesis_command(base_url, ci_config(tmp_path), MAX_EXAMPLES)
        # In tmp_path: its example database and reports stay out of the work tree.
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_USERS": str(users)},
        )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    tested = operations - len(NEEDS_AN_EXCHANGE) - len(ENDS_THE_SESSIONS)
    assert f"Tested: {tested}" in run.stdout, run.stdout[-5_000:]
    scenarios = re.search(r"Scenarios:\s+(\d+)", run.stdout)
    links = re.search(r"API Links:\s+(\d+) covered", run.stdout)
    assert scenarios and links, run.stdout[-5_000:]
    # The phase ran scenarios (Hypothesis ends it early once they stop finding anything new) and
    # chained calls through links rather than only creating (most generated create bodies break a
    # rule JSON Schema cannot state, see schemathesis.toml, and end their scenario with a 422). On
    # seed 1: 12 scenarios with the 33 links of api/openapi_links.py (20 or more when there were
    # 20 links: more transitions, fewer new scenarios before Hypothesis stops).
    assert int(scenarios.group(1)) >= 10, run.stdout[-5_000:]
    assert int(links.group(1)) >= 3, run.stdout[-5_000:]
    # object_level_authorization ran: without peers it is skipped with nothing but a warning. On
    # seed 1 it sends 9 requests as bob from alice's reads (her lists replayed as him, ids she
    # read tried on his side: 403 on admin routes, 404 on her seeded bot); a response with her
    # object would have failed the run above.
    assert "will not run" not in run.stdout + run.stderr, run.stdout[:5_000]
    probes = peer_probes(tmp_path / EVENTS)
    assert probes, "object_level_authorization sent nothing as a peer"
    # Among them, a read by id of an object the other user owns (a seeded one): refused.
    owned_reads = [probe for probe in probes if OWNED_READ.search(probe)]
    assert owned_reads, probes
    assert all(probe.endswith("-> 404") for probe in owned_reads), owned_reads
    # The CI budget leaves negative data out of the coverage phase only: the fuzzing phase still
    # sends some, which negative_data_rejection checks were refused.
    negative = negative_cases_by_phase(tmp_path / EVENTS)
    assert negative.get("fuzzing", 0) > 0 and "coverage" not in negative, negative
