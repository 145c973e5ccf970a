from __future__ import annotations

import re

from tests.infra import REPO_ROOT

SECRET_NAMES = ("JWT_SECRET", "ENCRYPTION_KEYS", "DATABASE_URL", "PASSWORD", "SECRET", "TOKEN")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(index for index, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_multi_stage_with_a_slim_python_final_image() -> None:
    steps = instructions()
    assert sum(1 for keyword, _ in steps if keyword == "FROM") >= 2
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    assert final_stage()[0] == ("FROM", "${PYTHON_IMAGE}")


def test_final_stage_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage must switch user"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword, args in instructions():
        if keyword in {"ENV", "ARG"}:
            assert not any(name in args.upper() for name in SECRET_NAMES), args
        if keyword in {"COPY", "ADD"}:
            assert ".env" not in args.split(), args


def test_final_stage_has_migrations_port_healthcheck_and_serve_command() -> None:
    stage = final_stage()
    copies = " ".join(args for keyword, args in stage if keyword == "COPY")
    assert "--from=builder /opt/venv" in copies
    assert "alembic.ini" in copies and "migrations" in copies
    assert ("EXPOSE", "8000") in stage
    (healthcheck,) = [args for keyword, args in stage if keyword == "HEALTHCHECK"]
    assert "/health" in healthcheck
    (command,) = [args for keyword, args in stage if keyword == "CMD"]
    assert command.startswith('["autogrid", "serve"')


def test_builder_installs_the_wheel_into_a_venv() -> None:
    steps = instructions()
    builder = steps[steps.index(("FROM", "${PYTHON_IMAGE} AS builder")) : -len(final_stage())]
    runs = " ".join(args for keyword, args in builder if keyword == "RUN")
    assert "python -m venv /opt/venv" in runs
    assert "pip wheel" in runs and "/opt/venv/bin/pip install --no-deps /dist/" in runs
    # Dependencies come from the lock first, hashes verified.
    assert "/opt/venv/bin/pip install --require-hashes -r requirements/main.lock" in runs


def test_no_installer_is_left_in_the_image() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "/opt/venv/bin/pip uninstall --yes setuptools pip" in runs
    final_runs = " ".join(args for keyword, args in final_stage() if keyword == "RUN")
    assert "pip uninstall --yes setuptools wheel pip" in final_runs


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".venv", "var", ".git", ".env", ".pytest_cache", ".mypy_cache", ".ruff_cache"):
        assert entry in ignored
