"""What every long-running command does first: load settings with readable errors, set up logs."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from autogrid.core.config import Settings, load_settings
from autogrid.observability import configure_logging


def format_settings_error(error: ValidationError) -> str:
    """One line per problem, named by its environment variable (``PORT: ...``).

    The offending value is left out on purpose: it may be a secret.
    """
    lines = ["invalid settings (environment or .env):"]
    for problem in error.errors():
        variable = "_".join(str(part) for part in problem["loc"] if isinstance(part, str)).upper()
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"  {variable}: {message}" if variable else f"  {message}")
    return "\n".join(lines)


def load_settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as error:
        raise click.ClickException(format_settings_error(error)) from error


def configure_command_logging(settings: Settings) -> None:
    """The platform's log format and secret scrubbing, for commands that do not run the app."""
    configure_logging(settings)
