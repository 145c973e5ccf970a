"""The shipped Prometheus alert rules: valid, firing on trouble and quiet on health (promtool's own
rule unit tests), and written against metrics the platform really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import autogrid.observability.metrics  # noqa: F401 - registers every metric of the platform
from tests.infra import IN_CI

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
RULES = MONITORING / "alerts.yml"
# Prometheus' own metrics and suffixes a histogram or counter adds to its family name.
NOT_OURS = {"up", "time", "absent", "sum", "max", "rate", "increase", "by"}
SUFFIXES = ("_count", "_sum", "_bucket", "_total")


def promtool() -> str:
    found = shutil.which("promtool") or shutil.which(
        "promtool", path=str(Path(sys.executable).parent)
    )
    if found is None:
        message = "promtool is not installed (make test installs it from Debian's prometheus)"
        if IN_CI:
            pytest.fail(f"CI requires it: {message}", pytrace=False)
        pytest.skip(message)
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=MONITORING, capture_output=True, text=True, check=False
    )


def test_the_rules_are_valid() -> None:
    result = run_promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_each_alert_fires_on_trouble_and_stays_quiet_on_a_healthy_fleet() -> None:
    result = run_promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def exported_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_an_alert_reads_is_one_the_platform_exports() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    exported = exported_names()
    for rule in rules:
        expr = re.sub(r'\{[^}]*\}|"[^"]*"', "", rule["expr"])  # drop label matchers and strings
        for name in re.findall(r"[a-z_][a-z0-9_]*", expr):
            if name in NOT_OURS or not name.startswith(("autogrid_", "http_")):
                continue
            family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
            assert name in exported or family in exported, f"{rule['alert']}: {name}"
