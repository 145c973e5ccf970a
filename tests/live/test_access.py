"""Open streams end when their user's access does: logging out everywhere, changing the password
or being deactivated closes the user's WebSockets with 4401 (within the feed's access check),
and a ticket issued before any of these no longer opens one."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect

from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.models import User
from tests.bots.factories import create_bot
from tests.helpers import ApiUser
from tests.live.conftest import (
    REVOCATION_CHECK_SECONDS,
    LiveServer,
    journal,
    receive_ids,
    subscribe,
)
from tests.live.test_socket import closed_with

NEW_PASSWORD = "violet tangerine spaceship 42"


async def revoke_access(live: LiveServer, db: Database, user: ApiUser, how: str) -> None:
    if how == "log out everywhere":
        response = await live.http.post("/api/v1/auth/logout-all", headers=user.headers)
        assert response.status_code == 204, response.text
    elif how == "change the password":
        response = await live.http.post(
            "/api/v1/auth/password",
            headers=user.headers,
            json={"current_password": user.password, "new_password": NEW_PASSWORD},
        )
        assert response.status_code == 200, response.text
    else:
        async with db.session_scope() as session:
            await session.execute(update(User).where(User.id == user.id).values(is_active=False))


@pytest.mark.parametrize("access_check_seconds", [REVOCATION_CHECK_SECONDS])
@pytest.mark.parametrize("how", ["log out everywhere", "change the password", "deactivate"])
async def test_an_open_stream_closes_4401_once_its_users_access_is_revoked(
    live: LiveServer, db: Database, alice: ApiUser, bob: ApiUser, how: str
) -> None:
    theirs = (await create_bot(live.http, bob))["id"]
    async with await live.connect(alice) as ws, await live.connect(bob) as other:
        await subscribe(ws)
        await subscribe(other)
        await revoke_access(live, db, alice, how)
        assert "log in again" in await closed_with(ws, 4401)
        # Only her streams end.
        later = await journal(db, theirs, [EventType.FILL])
        assert await receive_ids(other, 1) == later


async def test_a_ticket_issued_before_logging_out_everywhere_opens_nothing(
    live: LiveServer, alice: ApiUser
) -> None:
    ticket = await live.ticket(alice)
    await revoke_access(live, None, alice, "log out everywhere")  # type: ignore[arg-type]
    async with connect(live.ws_url(ticket)) as ws:
        await closed_with(ws, 4401)
