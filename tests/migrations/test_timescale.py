"""Where hypertables are used: only where CREATE EXTENSION can succeed, never at the price of an
install that fails."""

from __future__ import annotations

import pytest
from migrations.timescale import TimescaleProbe, probe_timescale, timescale_decision

from tests.infra import create_database, drop_database
from tests.migrations.test_migrations import _inspect


@pytest.mark.parametrize(
    ("probe", "use", "why"),
    [
        (TimescaleProbe("sqlite", False, False, False), False, "sqlite has no TimescaleDB"),
        (TimescaleProbe("postgresql", False, False, False), False, "not available"),
        # The package is there but not preloaded: CREATE EXTENSION would fail and roll the
        # migration back, so AutoGrid could not be installed at all.
        (TimescaleProbe("postgresql", False, True, False), False, "shared_preload_libraries"),
        (TimescaleProbe("postgresql", False, True, True), True, "available and preloaded"),
        # Created already (by an operator, or an earlier migration): use it.
        (TimescaleProbe("postgresql", True, True, True), True, "installed"),
    ],
)
def test_hypertables_only_where_the_extension_can_be_created(
    probe: TimescaleProbe, use: bool, why: str
) -> None:
    decided, reason = timescale_decision(probe)
    assert decided is use
    assert why in reason


def test_the_probe_reads_this_server() -> None:
    url = create_database("autogrid_timescale_probe")
    try:
        probe = _inspect(url, probe_timescale)
        preload = _inspect(
            url, lambda c: c.exec_driver_sql("SHOW shared_preload_libraries").scalar()
        )
    finally:
        drop_database(url)
    assert probe.dialect == "postgresql"
    assert probe.installed is False  # a new database: nothing created yet
    assert probe.preloaded is ("timescaledb" in str(preload))
