"""Two real API processes on one PostgreSQL and one Redis: events written anywhere reach the
streams of both, woken through Redis (their poll is set to an hour), and a client that drops in
the middle of a burst of fills and resumes on the other process gets every fill once, in order."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.live.socket import MAX_FRAME_BYTES
from autogrid.live.wakeup import announcer
from autogrid.models import Bot
from tests.helpers import ApiUser, register_user, unique_email
from tests.live.conftest import (
    RECEIVE_TIMEOUT_SECONDS,
    STARTUP_TIMEOUT_SECONDS,
    LiveServer,
    journal,
    receive_ids,
    subscribe,
)
from tests.live.test_socket import closed_with
from tests.worker.processes import AUTOGRID, free_port, process_env, running, tail

pytestmark = pytest.mark.slow

BURST_TRANSACTIONS = 100


def _server_env(settings: Settings, var_dir: Path) -> dict[str, str]:
    assert settings.redis_url
    return process_env(
        environment="development",
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        redis_key_prefix=settings.redis_key_prefix,
        jwt_secret=settings.jwt_secret,
        encryption_keys=",".join(settings.encryption_keys),
        var_dir=str(var_dir),
        log_json="false",
        log_level="WARNING",
        # Only a Redis announcement makes these feeds read before an hour is up.
        live_poll_seconds="3600",
    )


PROCESSES: dict[str, subprocess.Popen[bytes]] = {}


@pytest.fixture
def api_processes(
    request: pytest.FixtureRequest, settings: Settings, db: Database, tmp_path: Path
) -> Iterator[list[str]]:
    """Two API processes, or as many as the test asks for (``indirect`` parametrization)."""
    names = ("a", "b")[: getattr(request, "param", 2)]
    urls: list[str] = []
    with ExitStack() as stack:
        for name in names:
            port = free_port()
            log = tmp_path / f"api-{name}.log"
            PROCESSES[f"http://127.0.0.1:{port}"] = stack.enter_context(
                running(
                    [*AUTOGRID, "serve", "--port", str(port)],
                    env=_server_env(settings, tmp_path / f"var-{name}"),
                    cwd=tmp_path,
                    log=log,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
        for name in names:
            print(f"--- api {name} ---\n{tail(tmp_path / f'api-{name}.log')}")


async def _ready(url: str) -> None:
    async with (
        httpx.AsyncClient(base_url=url, timeout=5) as http,
        asyncio.timeout(STARTUP_TIMEOUT_SECONDS),
    ):
        while True:
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


@pytest.fixture
async def servers(api_processes: list[str], settings: Settings) -> AsyncIterator[list[LiveServer]]:
    await asyncio.gather(*(_ready(url) for url in api_processes))
    # This process writes the events, as a worker does: its commits announce them.
    announcer.configure(settings)
    async with AsyncExitStack() as clients:
        yield [
            LiveServer(
                None,  # type: ignore[arg-type]
                url,
                await clients.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30)),
            )
            for url in api_processes
        ]


async def _bot_of(db: Database, user: ApiUser) -> str:
    async with db.session_scope() as session:
        bot = Bot(
            user_id=user.id,
            name="grid bot",
            type="grid",
            exchange="binance",
            symbol="BTC/USDT",
            config={},
            state={},
        )
        session.add(bot)
        await session.flush()
        return str(bot.id)


async def test_a_resume_on_another_process_mid_burst_has_no_gap_and_no_duplicate(
    servers: list[LiveServer], db: Database
) -> None:
    a, b = servers
    alice = await register_user(a.http, unique_email("alice"))
    bot = await _bot_of(db, alice)
    written: list[int] = []

    async def burst() -> None:
        for _ in range(BURST_TRANSACTIONS):
            written.extend(await journal(db, bot, [EventType.FILL, EventType.ORDER_FILLED]))

    async with await b.connect(alice) as watcher:
        await subscribe(watcher)
        resumed: list[int] = []
        async with await a.connect(alice) as first:
            await subscribe(first)
            writer = asyncio.create_task(burst())
            resumed += await receive_ids(first, 40)
        async with await b.connect(alice) as second:
            await subscribe(second, last_event_id=resumed[-1])
            await writer
            resumed += await receive_ids(second, len(written) - len(resumed))
        watched = await receive_ids(watcher, len(written))
    assert resumed == written
    assert watched == written


async def test_a_ticket_from_one_process_works_once_on_the_other(
    servers: list[LiveServer],
) -> None:
    a, b = servers
    alice = await register_user(a.http, unique_email("alice"))
    ticket = await a.ticket(alice)
    async with connect(b.ws_url(ticket)) as ws:
        await subscribe(ws)
    async with connect(a.ws_url(ticket)) as ws:
        await closed_with(ws, 4401)


async def test_serve_refuses_frames_over_its_limit(servers: list[LiveServer]) -> None:
    a, _ = servers
    alice = await register_user(a.http, unique_email("alice"))
    async with await a.connect(alice) as ws:
        await ws.send("x" * (MAX_FRAME_BYTES + 1))
        await closed_with(ws, 1009)


@pytest.mark.parametrize("api_processes", [1], indirect=True, ids=["one process"])
async def test_a_stopping_server_closes_its_streams_cleanly(servers: list[LiveServer]) -> None:
    """SIGTERM: open streams get a close frame (the client reconnects elsewhere with its last
    id), not a dropped connection."""
    [a] = servers
    alice = await register_user(a.http, unique_email("alice"))
    async with await a.connect(alice) as ws:
        await subscribe(ws)
        PROCESSES[a.base_url].send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
                await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code in {1001, 1012}  # going away / service restart
