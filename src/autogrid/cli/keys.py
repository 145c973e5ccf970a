"""``autogrid gen-secret`` / ``gen-key``: fresh values for JWT_SECRET and ENCRYPTION_KEYS."""

from __future__ import annotations

import secrets

import click

from autogrid.core.config import new_encryption_key

JWT_SECRET_BYTES = 48


@click.command("gen-secret")
def gen_secret_command() -> None:
    """Print a random JWT_SECRET."""
    click.echo(secrets.token_urlsafe(JWT_SECRET_BYTES))


@click.command("gen-key")
def gen_key_command() -> None:
    """Print a new ENCRYPTION_KEYS entry (url-safe base64 of 32 random bytes)."""
    click.echo(new_encryption_key())
