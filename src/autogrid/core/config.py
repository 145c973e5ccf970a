"""Typed settings, validated once at start-up.

In development, secrets that were not given are generated once and kept under ``./var/`` so a
restart keeps the same tokens and encrypted credentials valid. In production a missing, default or
weak secret stops the service with a message naming the variable.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import re
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from autogrid.models.user import Plan

logger = logging.getLogger(__name__)

# Values that appear in docs and examples: refusing them in production stops copy-paste deployments.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "dev", "development", "please-change-me"}
)
MIN_JWT_SECRET_BYTES = 32
ENCRYPTION_KEY_BYTES = 32
TELEGRAM_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _rate_limit_text(value: str) -> str:
    """One limit in the ``limits`` notation ("120/minute", "10 per second"), checked at start-up."""
    problem = "not one rate limit of at least 1 request; write it like 120/minute or 5/second"
    try:
        parsed = parse_many(value)
    except ValueError as error:
        raise ValueError(problem) from error
    if len(parsed) != 1 or parsed[0].amount < 1:
        raise ValueError(problem)
    return value


RateLimitText = Annotated[str, AfterValidator(_rate_limit_text)]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # A bad value must never be echoed back: it may be (part of) a secret.
        hide_input_in_errors=True,
    )

    environment: Environment = Environment.DEVELOPMENT
    var_dir: Path = Path("./var")

    database_url: str = "sqlite+aiosqlite:///./var/autogrid.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str | None = None
    # Lets several deployments (or test runs) share one Redis without touching each other's keys.
    redis_key_prefix: str = "autogrid:"
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None

    jwt_secret: str = ""
    encryption_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=300, le=365 * 86_400)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_login_per_minute: int = Field(default=10, ge=1, le=10_000)
    # Per account from addresses that never logged in to it; known addresses are still let in.
    rate_limit_login_per_account_per_hour: int = Field(default=100, ge=1, le=100_000)
    rate_limit_register_per_hour: int = Field(default=20, ge=1, le=100_000)
    # Every API request is counted per signed-in user (their plan's limit, from the access token)
    # or per client address when anonymous; a Redis outage lets requests through unlimited.
    rate_limit_api_default: RateLimitText = "120/minute"
    # Plans not named here get RATE_LIMIT_API_DEFAULT; setting it replaces the whole map.
    rate_limit_api_plans: dict[Plan, RateLimitText] = Field(
        default_factory=lambda: {
            Plan.STARTER: "300/minute",
            Plan.PRO: "600/minute",
            Plan.ENTERPRISE: "1200/minute",
        }
    )
    rate_limit_api_admin: RateLimitText = "1200/minute"
    rate_limit_api_anonymous: RateLimitText = "60/minute"
    # Posts to the signal entry with a token that opens a source: counted per source, not per
    # address (TradingView sends every user's alerts from a few shared addresses). A token that
    # opens nothing spends the anonymous per-address budget.
    signal_rate_limit: RateLimitText = "120/minute"
    markets_cache_ttl_seconds: float = Field(default=3600, ge=10, le=86_400)
    # An exchange's market list that failed to load is not asked again for this long.
    markets_failure_ttl_seconds: float = Field(default=15, ge=1, le=300)
    # A request waits this long at most for a market list load (a connect that hangs).
    markets_load_wait_seconds: float = Field(default=5, ge=0.1, le=60)
    # The portfolio waits this long at most for one exchange read (a key's balances, a ticker);
    # past it, that account or price is shown unavailable and the overview still answers.
    portfolio_exchange_timeout_seconds: float = Field(default=10, ge=0.1, le=60)
    # What one user can make the backtest workers do (2 years of 1m candles is 1,051,200).
    backtest_max_candles: int = Field(default=1_100_000, ge=2, le=20_000_000)
    backtest_max_active_per_user: int = Field(default=3, ge=1, le=1_000)
    # Sweep runs share their candles and indicator series on a worker: a run costs about one
    # engine run, so a sweep may be large. An operator lowers it for a plan.
    backtest_max_sweep_runs: int = Field(default=1_000, ge=1, le=100_000)
    # A sweep's runs go to the workers this many at most per task message (fewer for long
    # ranges, see backtest/sweep_chunks.py): claims and transactions shared by a chunk's runs.
    backtest_sweep_chunk_runs: int = Field(default=20, ge=1, le=1_000)
    # Events older than this many days are pruned from the journal (a beat job, hourly).
    events_retention_days: int = Field(default=90, ge=1, le=3650)
    # Received signals are kept this long, then pruned by the hourly retention job.
    signal_retention_days: int = Field(default=90, ge=1, le=3650)
    # Webhook channels may point at private, loopback or link-local addresses only when this is
    # set (a self-hosted receiver on the same network); otherwise users could probe the internal
    # network through the platform (OWASP API7, SSRF).
    notifications_allow_private_targets: bool = False
    # One webhook request waits this long at most for its answer.
    notifications_webhook_timeout_seconds: float = Field(default=10, ge=0.1, le=60)
    # Where email (apprise) is not concerned: Discord's and Slack's webhook endpoints, apprise's
    # own by default; an egress proxy, or a local server speaking their protocol in tests.
    notifications_discord_webhook_url: str = "https://discord.com/api/webhooks"
    notifications_slack_webhook_url: str = "https://hooks.slack.com/services"
    # The platform's Telegram bot (from @BotFather); unset = no Telegram channels, no commands.
    telegram_bot_token: SecretStr | None = None
    # Bot API base URL the token is appended to (a local Bot API server or a test simulator).
    telegram_api_url: str = "https://api.telegram.org/bot"
    # Set: updates arrive by webhook (POST /api/v1/telegram/webhook, which checks Telegram's
    # X-Telegram-Bot-Api-Secret-Token header against it). Unset: beat polls getUpdates.
    telegram_webhook_secret: SecretStr | None = None
    # How long a link code (the deep link a user opens to connect a chat) stays valid.
    telegram_link_ttl_seconds: int = Field(default=600, ge=60, le=86_400)

    # Optional language-model fallback for free-text signals the grammar cannot read: the base
    # URL of any OpenAI-compatible chat-completions API ("https://api.openai.com/v1", a local
    # server's "http://127.0.0.1:11434/v1"). Empty (the default): off, nothing is ever sent.
    signal_llm_url: str = ""
    signal_llm_model: str = ""
    signal_llm_api_key: SecretStr | None = None
    # The whole exchange with the model (connect, answer, read) is abandoned after this long.
    signal_llm_timeout_seconds: float = Field(default=10, ge=0.1, le=120)

    # How long one exchange request may take before it is abandoned (ccxt's timeout).
    exchange_timeout_ms: int = Field(default=10_000, ge=500, le=120_000)
    # REST base URLs replacing ccxt's, per exchange id and ccxt ``urls['api']`` name, as JSON:
    # {"binance": {"public": "https://proxy.example/api/v3", ...}}. For an egress proxy, a
    # mirror or a local exchange simulator; every process (API and workers) uses them.
    exchange_api_urls: dict[str, dict[str, str]] = Field(default_factory=dict)
    # A worker that has not renewed a bot's lease for this long is presumed dead: another one
    # takes the bot over and resolves what it left in flight.
    bot_lease_seconds: float = Field(default=60, ge=2, le=3_600)
    # An order whose create had no clear answer is looked up by its client order id; "not
    # found" concludes it was never placed only after this long, and that many lookups spaced
    # this far apart.
    unknown_order_grace_seconds: float = Field(default=60, ge=1, le=86_400)
    unknown_order_lookups: int = Field(default=5, ge=1, le=100)
    unknown_order_lookup_spacing_seconds: float = Field(default=10, ge=0, le=3_600)

    # Requests with a larger body are refused with 413 before it is read in full. Every request
    # model is small; no route needs more (the request guard takes larger limits per path).
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    # A posted trading signal (POST /api/v1/signals/{token}) larger than this is refused with 413:
    # alerts are a few hundred bytes, and every accepted post is stored.
    signal_max_body_bytes: int = Field(default=8 * 1024, ge=256, le=64 * 1024)

    # Seconds between reads of the journal by an API process's live feed (running only while
    # streams are open) when nothing woke it (commits wake it through Redis; without Redis this
    # poll is how worker events arrive).
    live_poll_seconds: float = Field(default=0.5, ge=0.05, le=3600)

    # The fleet watchdog in the beat process: seconds between its looks at the broker, and how
    # many looks in a row must find nothing consuming before administrators are told.
    fleet_check_seconds: float = Field(default=20, ge=0.2, le=3600)
    fleet_stall_checks: int = Field(default=3, ge=1, le=1000)

    host: str = "127.0.0.1"
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    worker_metrics_host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    log_level: str = "INFO"
    log_json: bool = True
    # Seconds between summary lines that replace routine INFO lines (access log, Celery's
    # per-task lines); 0 writes every line. `autogrid dev` sets 60 for a readable terminal.
    log_summary_seconds: int = Field(default=0, ge=0, le=86_400)

    @field_validator(
        "telegram_bot_token", "telegram_webhook_secret", "signal_llm_api_key", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts only these characters in secret_token.
        if value is not None and not TELEGRAM_SECRET_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("encryption_keys", "cors_origins", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _keys_are_32_byte_base64(cls, keys: list[str]) -> list[str]:
        for position, key in enumerate(keys, start=1):
            if decode_key(key) is None:
                raise ValueError(
                    f"ENCRYPTION_KEYS entry {position} is not url-safe base64 of 32 bytes "
                    "(make one with: autogrid gen-key)"
                )
        return keys

    @field_validator("exchange_api_urls")
    @classmethod
    def _http_urls(cls, urls: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for exchange_id, names in urls.items():
            for name, url in names.items():
                parts = urlsplit(url)
                if parts.scheme not in {"http", "https"} or not parts.netloc:
                    raise ValueError(
                        f"EXCHANGE_API_URLS[{exchange_id}][{name}] is not an http(s) URL"
                    )
        return urls

    @field_validator("signal_llm_url")
    @classmethod
    def _llm_url(cls, url: str) -> str:
        url = url.strip()
        if not url:
            return ""
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("SIGNAL_LLM_URL is not an http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(
                "SIGNAL_LLM_URL must be a plain base URL; put the key in SIGNAL_LLM_API_KEY"
            )
        return url.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        upper = level.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        if not (url.startswith("postgresql+asyncpg://") or url.startswith("sqlite+aiosqlite://")):
            raise ValueError("DATABASE_URL must be a postgresql:// or sqlite:/// URL")
        return url

    @model_validator(mode="after")
    def _grace_outlasts_a_request(self) -> Settings:
        # A create still in flight must never be concluded "never placed": it would be placed
        # again and could execute twice.
        if self.unknown_order_grace_seconds * 1000 < self.exchange_timeout_ms:
            raise ValueError(
                "UNKNOWN_ORDER_GRACE_SECONDS must be at least EXCHANGE_TIMEOUT_MS (in seconds): "
                "an order whose create is still in flight could be placed a second time"
            )
        return self

    @model_validator(mode="after")
    def _llm_is_complete(self) -> Settings:
        if self.signal_llm_url and not self.signal_llm_model.strip():
            raise ValueError("SIGNAL_LLM_URL is set but SIGNAL_LLM_MODEL is empty")
        return self

    @model_validator(mode="after")
    def _secrets_fit_environment(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            problems = production_secret_problems(self)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def broker_url(self) -> str:
        """Celery broker: explicit, else Redis, else a file-system broker that needs no server."""
        if self.celery_broker_url:
            return self.celery_broker_url
        if self.redis_url:
            return self.redis_url
        return "filesystem://"

    @property
    def embedded_broker_dir(self) -> Path:
        return self.var_dir / "broker"


def decode_key(key: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(key.encode() + b"=" * (-len(key) % 4))
    except (ValueError, TypeError):
        return None
    return raw if len(raw) == ENCRYPTION_KEY_BYTES else None


def production_secret_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    secret = settings.jwt_secret
    if secret.strip().lower() in KNOWN_DEFAULT_SECRETS:
        problems.append("JWT_SECRET is missing or a known default; set a random value")
    elif len(secret.encode()) < MIN_JWT_SECRET_BYTES or len(set(secret)) < 10:
        problems.append(
            f"JWT_SECRET is weak; use at least {MIN_JWT_SECRET_BYTES} random bytes "
            "(autogrid gen-secret)"
        )
    if not settings.encryption_keys:
        problems.append("ENCRYPTION_KEYS is missing; set at least one key (autogrid gen-key)")
    elif any(len(set(decode_key(key) or b"")) < 8 for key in settings.encryption_keys):
        problems.append("ENCRYPTION_KEYS contains a weak key; generate one with autogrid gen-key")
    if settings.database_url.startswith("sqlite"):
        problems.append("DATABASE_URL points at SQLite; production needs PostgreSQL")
    if settings.signal_llm_url and not llm_url_is_protected(settings.signal_llm_url):
        # The key and every signal would cross the network in clear text.
        problems.append(
            "SIGNAL_LLM_URL uses plain http to a host that is not this machine; use https"
        )
    if not settings.redis_url and settings.broker_url == "filesystem://":
        problems.append("REDIS_URL is missing; production workers need Redis")
    return problems


def llm_url_is_protected(url: str) -> bool:
    """https, or plain http to this very machine (a local model server)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_encryption_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(ENCRYPTION_KEY_BYTES)).decode()


def _fill_development_secrets(settings: Settings) -> Settings:
    """Generate missing secrets once and persist them, so restarts keep sessions and ciphertexts."""
    if settings.jwt_secret and settings.encryption_keys:
        return settings
    store = settings.var_dir / "dev-secrets.json"
    saved: dict[str, str] = {}
    if store.exists():
        saved = json.loads(store.read_text())
    else:
        saved = {"jwt_secret": secrets.token_urlsafe(48), "encryption_key": new_encryption_key()}
        store.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the first byte: never readable by others, not even for a moment.
        descriptor = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(saved))
        logger.warning(
            "development secrets were generated and stored in %s; never use them in production",
            store,
        )
    updates: dict[str, Any] = {}
    if not settings.jwt_secret:
        updates["jwt_secret"] = saved["jwt_secret"]
    if not settings.encryption_keys:
        updates["encryption_keys"] = [saved["encryption_key"]]
    return settings.model_copy(update=updates)


def load_settings(**overrides: Any) -> Settings:
    settings = Settings(**overrides)
    if not settings.is_production:
        settings = _fill_development_secrets(settings)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
