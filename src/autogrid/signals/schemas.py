"""What the signals API takes and answers."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from autogrid.signals.outcomes import SignalOutcome
from autogrid.smart_trades.schemas import SmartTradeTemplate

MAX_TARGETS = 50
MAX_ALLOWED_IPS = 50
MAX_DEDUP_WINDOW_SECONDS = 7 * 86_400
MAX_LAG_SECONDS = 86_400


def _network(value: str) -> str:
    """An address or a network (CIDR), normalised: "10.0.0.1" -> "10.0.0.1/32"."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network") from None


IpNetwork = Annotated[str, Field(min_length=2, max_length=64), AfterValidator(_network)]
Targets = Annotated[list[uuid.UUID], Field(max_length=MAX_TARGETS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceCreate(_Strict):
    name: str = Field(min_length=1, max_length=100)
    bot_ids: Targets = Field(
        default_factory=list, description="the bots this source's signals act on (yours)"
    )
    allowed_ips: list[IpNetwork] = Field(
        default_factory=list,
        max_length=MAX_ALLOWED_IPS,
        description="addresses or networks allowed to post; empty: any address",
    )
    dedup_window_seconds: int = Field(default=60, ge=0, le=MAX_DEDUP_WINDOW_SECONDS)
    max_lag_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LAG_SECONDS,
        description="refuse a timestamped signal older than this (its own max_lag wins)",
    )
    enabled: bool = True
    smart_trade: SmartTradeTemplate | None = Field(
        default=None, description="open a smart trade on each buy signal, with this template"
    )

    @model_validator(mode="after")
    def _acts_on_something(self) -> SourceCreate:
        if not self.bot_ids and self.smart_trade is None:
            raise ValueError("give bot_ids, a smart_trade template, or both")
        return self


class SourceUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    bot_ids: Targets | None = None
    allowed_ips: list[IpNetwork] | None = Field(default=None, max_length=MAX_ALLOWED_IPS)
    dedup_window_seconds: int | None = Field(default=None, ge=0, le=MAX_DEDUP_WINDOW_SECONDS)
    max_lag_seconds: int | None = Field(default=None, ge=1, le=MAX_LAG_SECONDS)
    enabled: bool | None = None
    smart_trade: SmartTradeTemplate | None = Field(
        default=None, description="replaces the template; send null to stop opening trades"
    )


class SourceRead(BaseModel):
    id: uuid.UUID
    name: str
    token_prefix: str = Field(description="the token's first characters, to recognise it")
    bot_ids: list[uuid.UUID]
    allowed_ips: list[str]
    dedup_window_seconds: int
    max_lag_seconds: int | None
    enabled: bool
    smart_trade: SmartTradeTemplate | None
    created_at: datetime
    rotated_at: datetime | None


class SourceWithToken(SourceRead):
    token: str = Field(description="shown once: post signals to /api/v1/signals/{token}")
    url_path: str


class SourcePage(BaseModel):
    items: list[SourceRead]
    total: int
    limit: int
    offset: int


class TargetResult(BaseModel):
    bot_id: uuid.UUID | None = Field(description="null: no smart trade could be opened")
    smart_trade_id: uuid.UUID | None = Field(
        None, description="the smart trade it opened (a smart-trade source's result)"
    )
    outcome: SignalOutcome
    reason: str | None = None


class SignalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: uuid.UUID
    received_at: datetime
    client_ip: str | None
    body: str
    alert_id: str | None
    format: str | None
    parsed: dict[str, Any] | None
    outcome: SignalOutcome
    reason: str | None
    error_position: int | None
    results: list[TargetResult] | None
    executed_at: datetime | None


class SignalCursorPage(BaseModel):
    items: list[SignalRead]
    next_after_id: int
    has_more: bool


class SignalAccepted(BaseModel):
    """The answer to a post: the stored signal's id and what became of it so far."""

    id: int
    outcome: SignalOutcome
    reason: str | None = None
    error_position: int | None = None


class ParseRequest(_Strict):
    body: str = Field(max_length=64 * 1024, description="the message as a sender would post it")
    default_symbol: str | None = Field(default=None, max_length=40)


class ParseAnswer(BaseModel):
    ok: bool
    signal: dict[str, Any] | None = None
    error: str | None = None
    position: int | None = None
