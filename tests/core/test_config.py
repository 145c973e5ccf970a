"""Settings: production refuses unsafe secrets by name; development keeps generated ones stable."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from autogrid.cli.startup import format_settings_error
from autogrid.core.config import Settings, load_settings, new_encryption_key

STRONG_SECRET = "Zq8vN3kLp2Xw9RtY6mBc4HdF7sJg1aUe-Qx5Ko0Vi"
PG_URL = "postgresql://autogrid:pw@db.internal:5432/autogrid"
REDIS_URL = "redis://redis.internal:6379/0"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the developer's shell or a .env in the working directory."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    return tmp_path


def production_env(monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> None:
    values: dict[str, str | None] = {
        "ENVIRONMENT": "production",
        "JWT_SECRET": STRONG_SECRET,
        "ENCRYPTION_KEYS": new_encryption_key(),
        "DATABASE_URL": PG_URL,
        "REDIS_URL": REDIS_URL,
        **overrides,
    }
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def refusal(monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> str:
    production_env(monkeypatch, **overrides)
    with pytest.raises(ValidationError) as caught:
        load_settings()
    return str(caught.value)


def test_complete_production_settings_load_and_write_no_secret_file(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    production_env(monkeypatch)
    settings = load_settings()
    assert settings.is_production
    assert settings.jwt_secret == STRONG_SECRET
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.broker_url == REDIS_URL
    assert not (clean_environment / "var" / "dev-secrets.json").exists()


@pytest.mark.parametrize("secret", [None, "", "change-me", "secret", "CHANGEME"])
def test_production_refuses_missing_or_default_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    message = refusal(monkeypatch, JWT_SECRET=secret)
    assert "JWT_SECRET is missing or a known default" in message


@pytest.mark.parametrize("secret", ["short-but-random-9x", "a" * 64, "ab" * 20])
def test_production_refuses_weak_jwt_secret(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    message = refusal(monkeypatch, JWT_SECRET=secret)
    assert "JWT_SECRET is weak" in message


def test_production_refuses_missing_encryption_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, ENCRYPTION_KEYS=None)
    assert "ENCRYPTION_KEYS is missing" in message


def test_production_refuses_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, DATABASE_URL="sqlite:///./var/autogrid.db")
    assert "DATABASE_URL points at SQLite" in message


def test_production_refuses_running_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, REDIS_URL=None)
    assert "REDIS_URL is missing" in message


def test_every_production_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, JWT_SECRET=None, ENCRYPTION_KEYS=None, DATABASE_URL=None)
    for variable in ("JWT_SECRET", "ENCRYPTION_KEYS", "DATABASE_URL"):
        assert variable in message


def test_development_generates_secrets_once_privately_and_reuses_them(
    clean_environment: Path,
) -> None:
    first = load_settings()
    store = clean_environment / "var" / "dev-secrets.json"
    assert store.exists()
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    saved = json.loads(store.read_text())
    assert first.jwt_secret == saved["jwt_secret"]
    assert first.encryption_keys == [saved["encryption_key"]]
    assert len(first.jwt_secret) >= 32

    second = load_settings()
    assert second.jwt_secret == first.jwt_secret
    assert second.encryption_keys == first.encryption_keys
    assert json.loads(store.read_text()) == saved


def test_development_secrets_given_in_the_environment_win(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    load_settings()  # leaves a stored pair behind
    key = new_encryption_key()
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("ENCRYPTION_KEYS", key)
    settings = load_settings()
    assert settings.jwt_secret == STRONG_SECRET
    assert settings.encryption_keys == [key]


def test_development_defaults_to_the_embedded_mode(clean_environment: Path) -> None:
    settings = load_settings()
    assert settings.is_sqlite
    assert settings.broker_url == "filesystem://"
    assert settings.embedded_broker_dir == clean_environment / "var" / "broker"


def test_broker_prefers_explicit_url_then_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    assert load_settings().broker_url == REDIS_URL
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://other:6379/3")
    assert load_settings().broker_url == "redis://other:6379/3"


def test_non_numeric_port_is_named_in_a_readable_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    readable = format_settings_error(caught.value)
    assert "PORT: Input should be a valid integer" in readable


def test_out_of_range_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert "PORT:" in format_settings_error(caught.value)


def test_malformed_encryption_key_is_named_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENCRYPTION_KEYS", f"{new_encryption_key()},not-a-real-key")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    readable = format_settings_error(caught.value)
    assert "ENCRYPTION_KEYS: ENCRYPTION_KEYS entry 2 is not url-safe base64 of 32 bytes" in readable
    assert "not-a-real-key" not in readable


def test_production_refusal_reads_without_pydantic_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    production_env(monkeypatch, JWT_SECRET="change-me")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    readable = format_settings_error(caught.value)
    assert "\n  JWT_SECRET is missing or a known default" in readable
    assert "Value error" not in readable
    assert "change-me" not in readable


def test_unknown_database_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://localhost/autogrid")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert "DATABASE_URL must be a postgresql:// or sqlite:/// URL" in str(caught.value)


def test_exchange_urls_and_runtime_timings_are_ordinary_production_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autogrid.engine.context import RuntimeOptions

    proxy = {"binance": {"public": "https://egress.internal/api/v3"}}
    production_env(
        monkeypatch,
        EXCHANGE_API_URLS=json.dumps(proxy),
        EXCHANGE_TIMEOUT_MS="4000",
        BOT_LEASE_SECONDS="30",
        UNKNOWN_ORDER_GRACE_SECONDS="20",
        UNKNOWN_ORDER_LOOKUPS="3",
        UNKNOWN_ORDER_LOOKUP_SPACING_SECONDS="2",
    )
    settings = load_settings()
    assert settings.is_production
    assert settings.exchange_api_urls == proxy
    assert settings.exchange_timeout_ms == 4000
    options = RuntimeOptions.from_settings(settings)
    assert options.lease_ttl.total_seconds() == 30
    policy = options.policy
    assert (policy.grace_seconds, policy.max_checks, policy.spacing_seconds) == (20, 3, 2)


def test_defaults_keep_the_runtime_timings_of_before(clean_environment: Path) -> None:
    from autogrid.engine.context import RuntimeOptions

    assert RuntimeOptions.from_settings(load_settings()) == RuntimeOptions()


def test_an_exchange_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_API_URLS", json.dumps({"binance": {"public": "file:///etc"}}))
    with pytest.raises(ValidationError, match=r"EXCHANGE_API_URLS\[binance\]\[public\]"):
        load_settings()


def test_an_unknown_order_grace_shorter_than_a_request_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A create still in flight when the grace ends would be concluded never placed, and placed
    # a second time.
    monkeypatch.setenv("EXCHANGE_TIMEOUT_MS", "10000")
    monkeypatch.setenv("UNKNOWN_ORDER_GRACE_SECONDS", "5")
    with pytest.raises(ValidationError, match="UNKNOWN_ORDER_GRACE_SECONDS"):
        load_settings()


def test_api_rate_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    production_env(
        monkeypatch,
        RATE_LIMIT_API_DEFAULT="90 per minute",
        RATE_LIMIT_API_PLANS='{"pro": "10/second"}',
    )
    settings = load_settings()
    assert settings.rate_limit_api_default == "90 per minute"
    assert settings.rate_limit_api_plans == {"pro": "10/second"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATE_LIMIT_API_DEFAULT", "lots"),
        ("RATE_LIMIT_API_ANONYMOUS", "0/minute"),
        # One limit each: a list would be read as its first item only.
        ("RATE_LIMIT_API_ADMIN", "10/second;100/minute"),
        ("RATE_LIMIT_API_PLANS", '{"pro": "fast"}'),
        ("RATE_LIMIT_API_PLANS", '{"gold": "10/second"}'),
    ],
)
def test_a_malformed_api_rate_limit_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    assert name.lower() in refusal(monkeypatch, **{name: value})


def test_the_signal_language_model_is_off_by_default(clean_environment: Path) -> None:
    settings = load_settings()
    assert settings.signal_llm_url == "" and settings.signal_llm_api_key is None


@pytest.mark.parametrize(
    "url",
    ["https://api.openai.com/v1", "http://127.0.0.1:11434/v1", "http://localhost:8080/v1"],
)
def test_production_accepts_a_signal_model_over_https_or_on_this_machine(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    production_env(
        monkeypatch, SIGNAL_LLM_URL=url + "/", SIGNAL_LLM_MODEL="m", SIGNAL_LLM_API_KEY="sk-x"
    )
    settings = load_settings()
    assert settings.signal_llm_url == url
    assert settings.signal_llm_api_key is not None
    assert "sk-x" not in repr(settings)


@pytest.mark.parametrize("url", ["http://llm.internal:8000/v1", "http://10.0.0.5/v1"])
def test_production_refuses_a_signal_model_in_clear_text_over_the_network(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    message = refusal(monkeypatch, SIGNAL_LLM_URL=url, SIGNAL_LLM_MODEL="m")
    assert "SIGNAL_LLM_URL uses plain http" in message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://llm.example/v1", "not an http(s) URL"),
        ("https://user:sk-in-url@llm.example/v1", "plain base URL"),
        ("https://llm.example/v1?key=sk-in-query", "plain base URL"),
    ],
)
def test_a_malformed_signal_model_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    monkeypatch.setenv("SIGNAL_LLM_URL", url)
    monkeypatch.setenv("SIGNAL_LLM_MODEL", "m")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert problem in str(caught.value) and "sk-in" not in str(caught.value)


def test_a_signal_model_url_needs_a_model_and_a_blank_key_is_no_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIGNAL_LLM_URL", "https://llm.example/v1")
    with pytest.raises(ValidationError, match="SIGNAL_LLM_MODEL is empty"):
        load_settings()
    monkeypatch.setenv("SIGNAL_LLM_MODEL", "m")
    monkeypatch.setenv("SIGNAL_LLM_API_KEY", "  ")
    assert load_settings().signal_llm_api_key is None
