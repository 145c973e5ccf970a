from __future__ import annotations

import re

import pytest

from autogrid.core.config import Settings
from autogrid.observability import metrics
from tests.infra import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match["body"]


def test_the_two_commands_come_first() -> None:
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings[0] == "Two commands"
    commands = section("Two commands")
    assert commands.index("make run") < commands.index("make test") < commands.index("make lint")
    for promise in ("SQLite", "./var", "/docs", "/metrics", "Ctrl-C", "CI=true", "PostgreSQL"):
        assert promise in commands


def test_other_make_targets_are_listed() -> None:
    for target in ("lint", "migrate", "worker", "beat", "bench", "up", "down"):
        assert f"`make {target}`" in README


@pytest.mark.parametrize("name", sorted(name.upper() for name in Settings.model_fields))
def test_every_setting_is_in_the_configuration_table(name: str) -> None:
    table_rows = [line for line in section("Configuration").splitlines() if line.startswith("|")]
    assert any(row.startswith(f"| `{name}` |") for row in table_rows), f"{name} not documented"


def test_api_overview_covers_every_area_errors_and_pagination() -> None:
    overview = section("API overview")
    for area in (
        "auth",
        "admin",
        "exchanges",
        "credentials",
        "bots",
        "orders",
        "backtests",
        "market data",
        "/docs",
    ):
        assert f"**{area}**" in overview or area in overview
    for key in ('"code"', '"message"', '"details"', '"request_id"', "X-Request-ID"):
        assert key in overview
    assert "?limit=" in overview and "?offset=" in overview
    assert '{"items": [...], "total": N, "limit": 50, "offset": 0}' in overview


def test_every_metric_named_in_the_readme_exists() -> None:
    defined = {
        metric._name
        for metric in vars(metrics).values()
        if hasattr(metric, "_name") and hasattr(metric, "_labelnames")
    }
    exposed = defined | {f"{name}_total" for name in defined}
    named = set(re.findall(r"`((?:autogrid|http)_[a-z_]+)(?:\{[a-z_,]*\})?`", README))
    assert named, "the README names no metric"
    assert named <= exposed, sorted(named - exposed)


def test_deployment_fleet_and_deviations_are_documented() -> None:
    deployment = section("Production deployment with Docker Compose")
    assert "docker compose up" in deployment and ".env.example" in deployment
    fleet = section("Running a worker fleet")
    assert "autogrid worker" in fleet and "exactly one `autogrid beat`" in fleet
    assert "lock" in fleet
    deviations = section("Deviations from the design card")
    assert "PyJWT" in deviations and "python-jose" in deviations and "CVE" in deviations
    assert "argon2-cffi" in deviations and "passlib" in deviations and "72 bytes" in deviations
