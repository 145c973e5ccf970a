"""The short commands: keys, migrate/downgrade, settings errors, the command registry."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from autogrid.cli import cli
from autogrid.cli.group import COMMANDS, load_command
from autogrid.core.config import Settings, decode_key, new_encryption_key
from tests.worker.processes import AUTOGRID, process_env

PROCESS_TIMEOUT_SECONDS = 60


def run_cli(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUTOGRID, *args],
        cwd=cwd,
        env=process_env(**settings),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )


def test_gen_key_prints_a_fresh_valid_encryption_key() -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["gen-key"])
    second = runner.invoke(cli, ["gen-key"])
    assert first.exit_code == 0, first.output
    key = first.output.strip()
    assert decode_key(key) is not None
    assert key != second.output.strip()


def test_gen_secret_prints_a_secret_production_accepts() -> None:
    result = CliRunner().invoke(cli, ["gen-secret"])
    assert result.exit_code == 0, result.output
    settings = Settings(
        environment="production",
        jwt_secret=result.output.strip(),
        encryption_keys=[new_encryption_key()],
        database_url="postgresql://db/autogrid",
        redis_url="redis://redis:6379/0",
    )
    assert settings.is_production


def test_migrate_gives_up_on_an_unreachable_database_within_the_wait(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli(
        "migrate",
        "--wait",
        "3",
        cwd=tmp_path,
        database_url="postgresql://postgres:hunter2@127.0.0.1:1/autogrid",
        var_dir=str(tmp_path / "var"),
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "did not accept connections within 3s" in result.stderr
    assert "127.0.0.1:1/autogrid" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    # 3 s of waiting plus interpreter start-up; not the 60 s default of a driver timeout.
    assert elapsed < 15


def sqlite_tables(database: Path) -> set[str]:
    """Our tables; SQLite's own (``sqlite_sequence``, made by an AUTOINCREMENT key and never
    dropped) are not."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {row[0] for row in rows}


def test_migrate_and_downgrade_work_from_any_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"  # no alembic.ini here: it is found next to the package
    elsewhere.mkdir()
    database = tmp_path / "autogrid.db"
    settings = {"database_url": f"sqlite:///{database}", "var_dir": str(tmp_path / "var")}

    migrated = run_cli("migrate", cwd=elsewhere, **settings)
    assert migrated.returncode == 0, migrated.stderr
    assert "is at revision head" in migrated.stdout
    assert {"alembic_version", "users"} <= sqlite_tables(database)

    downgraded = run_cli("downgrade", "base", cwd=elsewhere, **settings)
    assert downgraded.returncode == 0, downgraded.stderr
    assert sqlite_tables(database) <= {"alembic_version"}


def test_alembic_ini_override_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRID_ALEMBIC_INI", str(tmp_path / "missing.ini"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'autogrid.db'}")
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 1
    assert f"AUTOGRID_ALEMBIC_INI={tmp_path / 'missing.ini'} is not a file" in result.output


def test_bad_settings_are_reported_by_variable_name(tmp_path: Path) -> None:
    result = run_cli("migrate", cwd=tmp_path, port="abc", var_dir=str(tmp_path / "var"))
    assert result.returncode == 1
    assert "PORT: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_downgrade_needs_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "ENVIRONMENT": "production",
        "JWT_SECRET": "Zq8vN3kLp2Xw9RtY6mBc4HdF7sJg1aUe-Qx5Ko0Vi",
        "ENCRYPTION_KEYS": new_encryption_key(),
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["downgrade", "base"])
    assert result.exit_code == 1
    assert "repeat with --yes" in result.output


def test_every_registered_command_loads_under_its_own_name() -> None:
    listed = cli.list_commands(click.Context(cli))
    for name, target in COMMANDS.items():
        assert load_command(target).name == name
    expected = {
        "dev",
        "serve",
        "migrate",
        "downgrade",
        "worker",
        "beat",
        "gen-secret",
        "gen-key",
        "create-user",
        "rotate-keys",
        "data",
        "backtest",
    }
    assert expected <= set(listed)


def test_several_api_processes_share_a_fresh_metrics_directory(tmp_path: Path) -> None:
    # In a separate interpreter: prometheus_client picks its storage mode once per process.
    var_dir = tmp_path / "var"
    directory = (var_dir / "prometheus").resolve()
    directory.mkdir(parents=True)
    stale = directory / "counter_99999999.db"
    stale.write_bytes(b"left over from the previous run")
    script = (
        "import os\n"
        "from autogrid.cli.server import prepare_metrics_for_workers\n"
        "from autogrid.core.config import load_settings\n"
        "settings = load_settings()\n"
        "prepare_metrics_for_workers(settings, workers=1)\n"
        "print(os.environ.get('PROMETHEUS_MULTIPROC_DIR'))\n"
        "prepare_metrics_for_workers(settings, workers=2)\n"
        "print(os.environ.get('PROMETHEUS_MULTIPROC_DIR'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=process_env(var_dir=str(var_dir)),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", str(directory)]
    assert not stale.exists()
