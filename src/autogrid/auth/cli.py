"""``autogrid create-user EMAIL [--admin] [--password-stdin]``: bootstrap accounts (first admin).

Uses the same service as ``POST /auth/register`` (same normalisation, hashing and rules), without
the HTTP rate limit. Settings come from the click context object when a parent group provides a
``Settings`` there (tests do), otherwise from the environment (DATABASE_URL, ...).
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import click
from pydantic import TypeAdapter, ValidationError

from autogrid.auth import service
from autogrid.auth.schemas import EMAIL_ADAPTER, NewPassword
from autogrid.core.config import Settings, load_settings
from autogrid.core.db import Database
from autogrid.core.errors import AppError
from autogrid.models import Role

_PASSWORD_ADAPTER: TypeAdapter[str] = TypeAdapter(NewPassword)


async def create_user(settings: Settings, email: str, password: str, *, role: Role) -> uuid.UUID:
    """Create the user in its own committed transaction; ``email`` must be normalised."""
    # No pool: a one-shot command should not keep idle connections around.
    database = Database.from_settings(settings, pooled=False)
    try:
        async with database.session_scope() as session:
            user = await service.register_user(session, email, password, role=role)
        return user.id
    finally:
        await database.dispose()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line, so `echo "$PW" | autogrid create-user ...` and here-strings both work.
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@click.command("create-user")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@click.pass_context
def create_user_command(ctx: click.Context, email: str, admin: bool, password_stdin: bool) -> None:
    """Create a user (optionally an admin) and print its id."""
    try:
        normalized_email = EMAIL_ADAPTER.validate_python(email)
    except ValidationError as error:
        raise click.BadParameter("not a valid email address", param_hint="EMAIL") from error
    try:
        password = _PASSWORD_ADAPTER.validate_python(_read_password(password_stdin))
    except ValidationError as error:
        raise click.UsageError("the password must be 8 to 1024 characters long", ctx=ctx) from error
    settings = ctx.find_object(Settings) or load_settings()
    role = Role.ADMIN if admin else Role.USER
    try:
        user_id = asyncio.run(create_user(settings, normalized_email, password, role=role))
    except AppError as error:  # a taken email, or a password too easy to guess
        raise click.ClickException(error.message) from error
    click.echo(str(user_id))
