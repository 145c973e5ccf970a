from __future__ import annotations

import re

import pytest

from autogrid.core.config import Settings
from tests.infra import REPO_ROOT

ENV_EXAMPLE = REPO_ROOT / ".env.example"
LINES = ENV_EXAMPLE.read_text().splitlines()
ASSIGNMENT = re.compile(r"^(?P<commented># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
SETTINGS_VARIABLES = sorted(name.upper() for name in Settings.model_fields)
SECRETS = ("JWT_SECRET", "ENCRYPTION_KEYS", "POSTGRES_PASSWORD")


def assignments() -> dict[str, tuple[int, bool, str]]:
    """NAME -> (line index, commented out, example value)."""
    found = {}
    for index, line in enumerate(LINES):
        match = ASSIGNMENT.match(line)
        if match:
            found[match["name"]] = (index, bool(match["commented"]), match["value"])
    return found


@pytest.mark.parametrize("name", SETTINGS_VARIABLES)
def test_every_setting_is_documented_with_a_comment(name: str) -> None:
    found = assignments()
    assert name in found, f"{name} is missing from .env.example"
    index, _, _ = found[name]
    comment = LINES[index - 1]
    assert comment.startswith("# ") and not ASSIGNMENT.match(comment), (
        f"{name} needs a one-line explanation right above it"
    )


def test_secrets_are_blank_with_generation_instructions() -> None:
    found = assignments()
    for name in SECRETS:
        _, commented, value = found[name]
        assert not commented and value == "", f"{name} must be left blank"
    text = ENV_EXAMPLE.read_text()
    assert "autogrid gen-secret" in text and "autogrid gen-key" in text


def test_the_example_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ENV_EXAMPLE)
    assert settings.environment == "development"
    assert settings.is_sqlite
    assert settings.broker_url == "filesystem://"
    assert settings.encryption_keys == [] and settings.cors_origins == []
