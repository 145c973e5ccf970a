"""docker-compose.yml is checked statically: Docker does not run where the tests run."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from autogrid.core.config import Settings
from tests.infra import REPO_ROOT

COMPOSE_TEXT = (REPO_ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
APP_SERVICES = ("api", "worker", "beat")
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}
# Read by prometheus_client itself, before any Settings exist.
NON_SETTINGS_APP_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR"}
REQUIRED_SECRETS = ("JWT_SECRET", "ENCRYPTION_KEYS")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def command(service: str) -> str:
    value = SERVICES[service]["command"]
    return " ".join(value) if isinstance(value, list) else str(value)


def healthcheck_command(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_the_five_services_exist() -> None:
    assert set(SERVICES) == {"db", "redis", "api", "worker", "beat"}


def test_db_is_a_pinned_timescale_with_a_named_volume_and_pg_isready() -> None:
    db = SERVICES["db"]
    assert db["image"] == "timescale/timescaledb:2.28.3-pg15"  # a release, not "latest"
    assert "pg_isready" in healthcheck_command("db")
    volume = db["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]
    assert db["environment"]["POSTGRES_DB"] == "autogrid"
    assert "ports" not in db, "PostgreSQL must not be published on the host"


def test_redis_has_a_ping_healthcheck() -> None:
    assert SERVICES["redis"]["image"] == "redis:7-alpine"
    assert healthcheck_command("redis") == "CMD redis-cli ping"
    assert "ports" not in SERVICES["redis"]


def test_api_migrates_then_serves_on_port_8000() -> None:
    api = SERVICES["api"]
    assert api["build"] == "."
    line = command("api")
    assert "autogrid migrate --wait 60 && exec autogrid serve --host 0.0.0.0 --port 8000" in line
    assert "8000:8000" in api["ports"]
    check = healthcheck_command("api")
    assert "python" in check and "urllib" in check and "/health" in check


def test_worker_and_beat_commands() -> None:
    assert command("worker") == "autogrid worker"
    assert command("beat") == "autogrid beat"


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_non_http_services_disable_the_images_http_healthcheck(service: str) -> None:
    assert SERVICES[service]["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_wait_for_healthy_dependencies(service: str) -> None:
    depends_on = SERVICES[service]["depends_on"]
    assert depends_on["db"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"
    if service != "api":
        # The api container runs the migrations; workers start on the migrated schema only.
        assert depends_on["api"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_run_in_production_against_db_and_redis(service: str) -> None:
    env = environment(service)
    assert env["ENVIRONMENT"] == "production"
    assert env["DATABASE_URL"].startswith("postgresql://")
    assert env["DATABASE_URL"].endswith("@db:5432/autogrid")
    assert env["REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_secrets_are_required_never_defaulted(service: str) -> None:
    env = environment(service)
    for name in REQUIRED_SECRETS:
        match = INTERPOLATION.fullmatch(env[name])
        assert match, f"{service}.{name} must come from the host environment"
        assert match["name"] == name
        assert match["op"] == ":?" and match["arg"], f"{service}.{name} needs ${{{name}:?message}}"
    password = INTERPOLATION.search(env["DATABASE_URL"])
    assert password and password["op"] == ":?"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_environment_uses_only_real_settings(service: str) -> None:
    unknown = set(environment(service)) - SETTINGS_VARIABLES - NON_SETTINGS_APP_VARIABLES
    assert not unknown, f"{service} sets variables Settings does not read: {sorted(unknown)}"


def test_api_and_worker_keep_multiprocess_metrics_on_a_tmpfs() -> None:
    for name in ("api", "worker"):
        directory = environment(name)["PROMETHEUS_MULTIPROC_DIR"]
        assert {"type": "tmpfs", "target": directory} in SERVICES[name]["volumes"], name
    assert "PROMETHEUS_MULTIPROC_DIR" not in environment("beat")


def test_workers_expose_their_trading_metrics() -> None:
    worker = environment("worker")
    assert worker["WORKER_METRICS_HOST"] == "0.0.0.0"
    assert str(worker["WORKER_METRICS_PORT"]) in {str(p) for p in SERVICES["worker"]["expose"]}


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    documented = (REPO_ROOT / ".env.example").read_text()
    for match in INTERPOLATION.finditer(COMPOSE_TEXT):
        name = match["name"]
        assert re.search(rf"^#? ?{name}=", documented, re.MULTILINE), f"{name} not in .env.example"
        if name in SETTINGS_VARIABLES or name == "POSTGRES_PASSWORD":
            continue
        pytest.fail(f"compose interpolates {name}, which is neither a setting nor the db password")


def test_no_literal_secret_values() -> None:
    for service in APP_SERVICES:
        env = environment(service)
        for name in ("JWT_SECRET", "ENCRYPTION_KEYS"):
            assert env[name].startswith("${")
    assert SERVICES["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
