"""Count what one authenticated read costs the API in Python function calls, per endpoint.

The app (``create_app``) runs in this process on a throw-away PostgreSQL database and Redis, as
the tests run it; each request is sent straight to the ASGI app (no HTTP client or server in the
count). One user owns a bot of each kind (grid, DCA with deals, schedule only and both, indicator,
signal, a smart trade), a page of orders on one bot, and a few statuses. For each endpoint:
``--requests`` requests under cProfile, the calls per request printed (a deterministic figure on a
shared machine, unlike timings), with ``--top`` the most called functions.

``--dump FILE`` writes every answer (status, content type, body bytes) of the endpoints and of
their errors (another user's bot, a bad token, a bad query) as JSON, to compare two versions'
answers byte for byte (``--compare FILE``).

    PYTHONPATH=$PWD/src .venv/bin/python bench/profile_reads.py [--requests 200] [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import re
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import update
from starlette.types import Message

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.bots.factories import DCA_CONFIG, RSI_CONFIG, grid_body, set_status  # noqa: E402
from tests.conftest import CHEAP_HASHER, TEST_JWT_SECRET, UNTHROTTLED_API  # noqa: E402
from tests.helpers import ApiUser, register_user  # noqa: E402
from tests.infra import LIFESPAN_TIMEOUTS, REDIS_TEST_URL, migrated_database  # noqa: E402
from tests.orders.factories import add_order  # noqa: E402
from tests.smart_trades.test_api import BODY as SMART_TRADE_BODY  # noqa: E402

from autogrid.app import create_app  # noqa: E402
from autogrid.auth import passwords  # noqa: E402
from autogrid.bots.markets import conservative_market_rules  # noqa: E402
from autogrid.core.config import load_settings, new_encryption_key  # noqa: E402
from autogrid.core.db import Database  # noqa: E402
from autogrid.models import Plan, User  # noqa: E402

LIVE = {"price_source": "live", "balances": {"USDT": "10000"}}
SCHEDULE = {"amount": "50", "cron": "0 9 * * MON", "timezone": "Europe/Paris"}
SMART_TRADE: dict[str, Any] = {**SMART_TRADE_BODY, "paper": LIVE}


def bodies() -> list[dict[str, Any]]:
    """A bot of each kind, paper at live prices (no candles needed)."""
    grid = grid_body(name="grid", paper=LIVE)
    per_level = grid_body(name="grid per level", paper=LIVE)
    per_level["config"] = {
        "lower_price": "90000.10",
        "upper_price": "125000.50",
        "grid_count": 7,
        "spacing": "geometric",
        "quote_per_grid": "50.500",
        "direction": "neutral",
        "trailing_up": True,
        "trailing_up_limit": "1E+6",
        "stop_loss_price": "80000.00",
    }
    dca = grid_body(name="dca", type="dca", paper=LIVE, config=DCA_CONFIG)
    both = grid_body(
        name="dca both",
        type="dca",
        paper=LIVE,
        config={**DCA_CONFIG, "schedule": {"amount": "25", "every": "daily"}},
    )
    only = grid_body(
        name="buys", type="dca", paper=LIVE, config={"deals": False, "schedule": SCHEDULE}
    )
    rsi = grid_body(name="rsi", type="indicator", paper=LIVE, config=RSI_CONFIG)
    signal = grid_body(name="signals", type="signal", paper=LIVE)
    signal.pop("config")
    breaker = grid_body(name="breaker", paper=LIVE)
    breaker["breaker"] = {"max_orders_per_minute": 30, "max_loss_pct_per_hour": "2.5"}
    return [grid, per_level, dca, both, only, rsi, signal, breaker]


class Fixture:
    def __init__(
        self, user: ApiUser, other: ApiUser, bots: list[dict[str, Any]], grids: ApiUser
    ) -> None:
        self.user, self.other, self.bots = user, other, bots
        self.grids = grids  # bench_reads.py's user: 3 grid bots (GRID_BODY)

    def endpoints(self) -> dict[str, tuple[str, dict[str, str]]]:
        """The profiled reads, by name: (path, headers)."""
        mine = self.user.headers
        grid = self.bots[0]["id"]
        return {
            "auth/me": ("/api/v1/auth/me", mine),
            "bots": ("/api/v1/bots", mine),
            "bots (3 grids, as bench_reads)": ("/api/v1/bots", self.grids.headers),
            "bots/{grid}": (f"/api/v1/bots/{grid}", mine),
            "bots/{dca}": (f"/api/v1/bots/{self.bots[3]['id']}", mine),
            "bots/{grid}/orders (empty)": (f"/api/v1/bots/{self.bots[1]['id']}/orders", mine),
            "bots/{grid}/orders (10)": (f"/api/v1/bots/{grid}/orders", mine),
        }

    def answers(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Every answer compared by --dump/--compare: the endpoints, each bot, the errors."""
        mine, theirs = self.user.headers, self.other.headers
        paths = {name: path for name, (path, _) in self.endpoints().items()}
        found = {name: (path, mine) for name, path in paths.items()}
        for bot in self.bots:
            found[f"bot {bot['name']}"] = (f"/api/v1/bots/{bot['id']}", mine)
        bots = "/api/v1/bots"
        found |= {
            "smart trades as bots": (f"{bots}?type=smart_trade", mine),
            "filtered": (f"{bots}?status=stopped&status=halted&type=grid&limit=3&offset=1", mine),
            "stopped by bot": (f"{bots}?stopped_by=bot", mine),
            "past the end": (f"{bots}?offset=100", mine),
            "other's list": (bots, theirs),
            "other's bot": (f"{bots}/{self.bots[0]['id']}", theirs),
            "other's orders": (f"{bots}/{self.bots[0]['id']}/orders", theirs),
            "no token": (bots, {}),
            "bad token": (bots, {"Authorization": "Bearer nope"}),
            "bad scheme": (bots, {"Authorization": "Basic eA=="}),
            "bad id": (f"{bots}/not-a-uuid", mine),
            "bad status": (f"{bots}?status=nope", mine),
            "bad limit": (f"{bots}?limit=0", mine),
            "bad order status": (f"{bots}/{self.bots[0]['id']}/orders?status=x", mine),
            "missing bot's orders": (f"{bots}/{uuid.UUID(int=7)}/orders", mine),
            "missing bot": (f"{bots}/{uuid.UUID(int=5)}", mine),
        }
        found["the OpenAPI document"] = ("/openapi.json", {})
        return found


async def build(client: httpx.AsyncClient, db: Database) -> Fixture:
    user = await register_user(client, "reader@example.com")
    other = await register_user(client, "other@example.com")
    async with db.session_scope() as session:  # room for a bot of each kind
        await session.execute(update(User).values(plan=Plan.ENTERPRISE))
    bots = []
    for body in bodies():
        made = await client.post("/api/v1/bots", json=body, headers=user.headers)
        if made.status_code != 201:
            raise SystemExit(f"creating {body['name']}: {made.status_code} {made.text}")
        bots.append(made.json())
    trade = await client.post("/api/v1/smart-trades", json=SMART_TRADE, headers=user.headers)
    if trade.status_code != 201:
        raise SystemExit(f"creating a smart trade: {trade.status_code} {trade.text}")
    bots.append({**trade.json(), "name": "smart trade"})
    when = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    await set_status(db, bots[0]["id"], "running", started_at=when)
    await set_status(
        db,
        bots[7]["id"],
        "halted",
        breaker_reason="loss limit",
        breaker_tripped_at=when,
        stopped_at=when,
    )
    memory = {"settled_through": "2026-03-16T08:00:00+00:00", "buys": 2, "missed": 1}
    await set_status(
        db, bots[4]["id"], "running", started_at=when, state={"recurring_buys": memory}
    )
    for number in range(10):
        await add_order(
            db, bots[0], user.id, created_at=when + timedelta(minutes=number), price="101000.5"
        )
    grids = await register_user(client, "grids@example.com")
    for number in range(3):
        body = {**grid_body(paper=LIVE), "name": f"grid {number}"}
        made = await client.post("/api/v1/bots", json=body, headers=grids.headers)
        if made.status_code != 201:
            raise SystemExit(f"creating a grid: {made.status_code} {made.text}")
    return Fixture(user, other, bots, grids)


async def request(app: FastAPI, path: str, headers: dict[str, str]) -> tuple[int, bytes, bytes]:
    """One GET straight through the app's ASGI interface: (status, content type, body)."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    kind = dict(start["headers"]).get(b"content-type", b"")
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], kind, body


async def profile(
    app: FastAPI,
    fixture: Fixture,
    count: int,
    top: int,
    only: str | None,
    args_sort: str,
    phases: bool,
) -> None:
    for name, (path, headers) in fixture.endpoints().items():
        if only and only not in name:
            continue
        for _ in range(20):
            status, _, body = await request(app, path, headers)
            if status != 200:
                raise SystemExit(f"{name}: {status} {body[:300]!r}")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(count):
            await request(app, path, headers)
        profiler.disable()
        stats = pstats.Stats(profiler)
        calls = stats.total_calls  # type: ignore[attr-defined]
        print(f"{name:30} {calls / count:8,.0f} calls/request  {len(body):6,} bytes")
        if phases:
            for phase, calls in sorted(
                (await phase_counts(app, path, headers, count)).items(), key=lambda x: -x[1]
            ):
                print(f"    {calls:7,}  {phase}")
        if top:
            stats.sort_stats(args_sort).print_stats(top)


# Where a call is counted with --phases: under the innermost of these functions on its stack
# (a coroutine's frames chain to whatever resumed them, so an awaited call counts too).
PHASES: dict[tuple[str, str], str] = {
    ("autogrid/api/rate_limits.py", "hit"): "rate limit + access check (Redis)",
    ("autogrid/api/rate_limits.py", "caller"): "token decode (rate limit's caller)",
    ("autogrid/auth/dependencies.py", "get_current_user"): "current user",
    ("autogrid/api/deps.py", "get_read_connection"): "read connection (open, close)",
    ("fastapi/dependencies/utils.py", "solve_dependencies"): "dependencies (FastAPI)",
    ("fastapi/routing.py", "run_endpoint_function"): "endpoint (other)",
    ("autogrid/bots/repository.py", "*"): "SQL",
    ("autogrid/orders/repository.py", "*"): "SQL",
    ("autogrid/core/paged_rows.py", "*"): "SQL",
    ("autogrid/bots/schemas.py", "bot_read"): "read models",
    ("pydantic/main.py", "model_validate"): "read models",
    ("fastapi/routing.py", "serialize_response"): "response validate + serialise",
    ("starlette/responses.py", "__call__"): "response sent",
    ("starlette/routing.py", "__call__"): "routing, middleware (other)",
}


def _package_phase(filename: str) -> str | None:
    """The phase of a call on a stack of its own (SQLAlchemy's greenlets, a protocol's reads)."""
    if "/sqlalchemy/" in filename or "/asyncpg/" in filename:
        return "SQL"
    if "/redis/" in filename:
        return "rate limit + access check (Redis)"
    return None


async def phase_counts(
    app: FastAPI, path: str, headers: dict[str, str], count: int
) -> dict[str, int]:
    """Calls per request by phase (see PHASES); what is under none: the event loop's own."""
    labels: dict[Any, str | None] = {}

    def label(code: Any) -> str | None:
        if code not in labels:
            found = None
            for (suffix, name), phase in PHASES.items():
                if code.co_filename.endswith(suffix) and name in ("*", code.co_name):
                    found = phase
                    break
            labels[code] = found
        return labels[code]

    counts: dict[str, int] = {}

    def tracer(frame: Any, event: str, _arg: Any) -> None:
        if event not in ("call", "c_call"):
            return
        phase = fallback = None
        while frame is not None:
            phase = label(frame.f_code)
            if phase is not None:
                break
            fallback = fallback or _package_phase(frame.f_code.co_filename)
            frame = frame.f_back
        phase = phase or fallback or "event loop (other)"
        counts[phase] = counts.get(phase, 0) + 1

    sys.setprofile(tracer)
    try:
        for _ in range(count):
            await request(app, path, headers)
    finally:
        sys.setprofile(None)
    return {phase: round(calls / count) for phase, calls in counts.items()}


async def run(
    args: argparse.Namespace, pg_url: str, var_dir: Path, expected: dict[str, Any] | None
) -> dict[str, Any]:
    """Profiles the reads; returns every answer (see ``Fixture.answers``), masked."""
    settings = load_settings(
        environment="development",
        database_url=pg_url,
        redis_url=REDIS_TEST_URL,
        redis_key_prefix=f"profile:{uuid.uuid4().hex[:8]}:",
        jwt_secret=TEST_JWT_SECRET,
        encryption_keys=[new_encryption_key()],
        var_dir=var_dir,
        log_json=False,
        log_level="WARNING",
        **UNTHROTTLED_API,
    )
    passwords.replace_hasher(CHEAP_HASHER)
    app = create_app(settings)
    async with LifespanManager(app, **LIFESPAN_TIMEOUTS):
        app.state.market_rules_provider = conservative_market_rules
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            fixture = await build(client, app.state.db)
        answers = {
            name: _masked(await request(app, path, headers))
            for name, (path, headers) in fixture.answers().items()
        }
        if expected is not None:
            differ = [name for name in expected if expected[name] != answers.get(name)]
            print("answers:", f"{len(differ)} differ: {differ}" if differ else "all identical")
            for name in differ:
                print(f"- {name}\n  was {expected[name]}\n  now {answers.get(name)}")
        await profile(app, fixture, args.requests, args.top, args.only, args.sort, args.phases)
    return answers


# What differs from run to run: ids, the times rows were written (today), client order ids,
# request ids.
VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    rf"|{datetime.now(UTC):%Y-%m-%d}T[0-9:.]+(Z|[+-][0-9:]+)?"
    r"|ag-[0-9a-f]{20}"
    r'|(?<="request_id":")[0-9a-f]{32}'
)


def _masked(answer: tuple[int, bytes, bytes]) -> list[Any]:
    """An answer as compared: its body's bytes with the run's volatile values masked."""
    status, kind, body = answer
    return [status, kind.decode(), VOLATILE.sub("*", body.decode())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--sort", default="ncalls", help="--top's order (pstats' sort keys)")
    parser.add_argument("--phases", action="store_true", help="calls per request by phase")
    parser.add_argument("--only", help="profile the endpoints whose name contains this")
    parser.add_argument("--dump", help="write every answer to this JSON file")
    parser.add_argument("--compare", help="compare every answer with this --dump file")
    args = parser.parse_args()
    with migrated_database("autogrid_profile") as pg_url, tempfile.TemporaryDirectory() as var:
        expected = json.loads(Path(args.compare).read_text()) if args.compare else None
        answers = asyncio.run(run(args, pg_url, Path(var), expected))
    if args.dump:
        Path(args.dump).write_text(json.dumps(answers, indent=1))


if __name__ == "__main__":
    main()
