"""``autogrid dev`` freezes what its start-up left alive before it supervises: the supervisor
lives as long as the children, and its exit no longer walks that heap (seconds after Ctrl-C)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from click.testing import CliRunner

from autogrid.cli import dev
from autogrid.cli.supervisor import Supervisor
from autogrid.core.config import Settings
from autogrid.demo.seed import DemoSeed


@pytest.mark.usefixtures("unfrozen")
def test_dev_freezes_its_start_up_heap_before_it_supervises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Everything but the freezing is stubbed: no migration, no demo, no children, and the test
    # process's logging stays as it is.
    async def no_demo(_settings: Settings) -> DemoSeed:
        return DemoSeed(candles_imported=0, email="demo@example.com", password=None)

    frozen_when_supervising: list[int] = []

    def supervise(_self: Supervisor) -> int:
        frozen_when_supervising.append(gc.get_freeze_count())
        return 0

    monkeypatch.setattr(dev, "upgrade_database", lambda _settings: None)
    monkeypatch.setattr(dev, "seed_demo", no_demo)
    monkeypatch.setattr(dev, "announce_when_ready", lambda _url, _banner: None)
    monkeypatch.setattr(dev, "configure_command_logging", lambda _settings: None)
    monkeypatch.setattr(Supervisor, "run", supervise)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'var' / 'autogrid.db'}")

    result = CliRunner().invoke(dev.dev_command, [])

    assert result.exit_code == 0, result.output
    assert len(frozen_when_supervising) == 1
    assert frozen_when_supervising[0] > 0
