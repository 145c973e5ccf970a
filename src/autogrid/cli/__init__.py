"""The ``autogrid`` command line: development server, API, migrations, worker, beat, keys."""

from autogrid.cli.group import cli, main

__all__ = ["cli", "main"]
