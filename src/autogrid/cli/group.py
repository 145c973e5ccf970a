"""The ``autogrid`` command group. Adding a command is one line in :data:`COMMANDS`.

Commands are imported when used, so ``autogrid gen-key`` does not load Celery, uvicorn or the
application, and starting each ``autogrid dev`` child stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> "module:attribute" of a click.Command.
COMMANDS: dict[str, str] = {
    "dev": "autogrid.cli.dev:dev_command",
    "serve": "autogrid.cli.server:serve_command",
    "migrate": "autogrid.cli.database:migrate_command",
    "downgrade": "autogrid.cli.database:downgrade_command",
    "worker": "autogrid.cli.celery_commands:worker_command",
    "beat": "autogrid.cli.celery_commands:beat_command",
    "gen-secret": "autogrid.cli.keys:gen_secret_command",
    "gen-key": "autogrid.cli.keys:gen_key_command",
    "create-user": "autogrid.auth.cli:create_user_command",
    "rotate-keys": "autogrid.credentials.cli:rotate_keys_command",
    "data": "autogrid.market_data.cli:data_group",
    "backtest": "autogrid.backtest.cli:backtest_command",
    "backtest-signals": "autogrid.backtest.signal_cli:signal_backtest_command",
}


def load_command(target: str) -> click.Command:
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class LazyGroup(click.Group):
    def __init__(self, name: str, *, commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._targets = dict(commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._targets, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._targets.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        return load_command(target)


cli = LazyGroup(
    name="autogrid",
    commands=COMMANDS,
    help="AutoGrid: multi-user backend for automated crypto trading bots.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def main() -> None:
    cli.main(prog_name="autogrid")
