"""``create-user``, run in a worker thread because it starts its own event loop."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from autogrid.auth.cli import create_user_command
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.conftest import TEST_JWT_SECRET
from tests.helpers import login

PW = "violet-harbor-lantern-42"


async def invoke(args: list[str], **kwargs: Any) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, create_user_command, args, **kwargs)


async def test_creates_a_user_who_can_log_in(
    client: httpx.AsyncClient, settings: Settings, db: Database
) -> None:
    result = await invoke(["Ops@Example.com", "--password-stdin"], input=f"{PW}\n", obj=settings)
    assert result.exit_code == 0, result.output
    user_id = uuid.UUID(result.output.strip().splitlines()[-1])
    response = await login(client, "ops@example.com", PW)
    assert response.status_code == 200
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["id"] == str(user_id)
    assert me.json()["role"] == "user"


async def test_admin_flag_and_prompt_with_confirmation(
    client: httpx.AsyncClient, settings: Settings, db: Database
) -> None:
    result = await invoke(["root@example.com", "--admin"], input=f"{PW}\n{PW}\n", obj=settings)
    assert result.exit_code == 0, result.output
    assert PW not in result.output  # hidden input is not echoed
    tokens = (await login(client, "root@example.com", PW)).json()
    users = await client.get(
        "/api/v1/admin/users", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert users.status_code == 200


async def test_settings_from_the_environment(
    client: httpx.AsyncClient, pg_url: str, tmp_path: Path, db: Database
) -> None:
    env = {"DATABASE_URL": pg_url, "JWT_SECRET": TEST_JWT_SECRET, "VAR_DIR": str(tmp_path)}
    result = await invoke(["env@example.com", "--password-stdin"], input=f"{PW}\n", env=env)
    assert result.exit_code == 0, result.output
    assert (await login(client, "env@example.com", PW)).status_code == 200


async def test_refuses_a_taken_email(settings: Settings, db: Database) -> None:
    args = ["twice@example.com", "--password-stdin"]
    assert (await invoke(args, input=f"{PW}\n", obj=settings)).exit_code == 0
    again = await invoke(["TWICE@example.com", "--password-stdin"], input=f"{PW}\n", obj=settings)
    assert again.exit_code == 1
    assert "already exists" in again.output


async def test_refuses_bad_input(settings: Settings, db: Database) -> None:
    short = await invoke(["a@example.com", "--password-stdin"], input="short\n", obj=settings)
    assert short.exit_code == 2
    assert "8 to 1024" in short.output
    bad_email = await invoke(["not-an-email", "--password-stdin"], input=f"{PW}\n", obj=settings)
    assert bad_email.exit_code == 2
    assert "not a valid email" in bad_email.output
