"""Request and response bodies of /credentials.

Secrets come in as ``SecretStr`` (their repr and any dump of the model mask them) and never go
out: the response model lists its fields explicitly, and the API key only appears masked.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
)

MAX_SECRET_CHARS = 512


def _clean_secret(value: Any) -> Any:
    """Trim what a paste adds around a key; refuse blanks inside it or control characters."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return value  # SecretStr's own validation reports the wrong type
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_SECRET_CHARS:
        raise ValueError(f"must be at most {MAX_SECRET_CHARS} characters")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError("must not contain spaces or control characters")
    return value


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return _clean_secret(value)


SecretField = Annotated[
    SecretStr, BeforeValidator(_clean_secret), Field(min_length=1, max_length=MAX_SECRET_CHARS)
]
OptionalSecretField = Annotated[
    SecretStr | None,
    BeforeValidator(_blank_is_none),
    Field(default=None, description="only for exchanges that use one (OKX, KuCoin, ...)"),
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CredentialCreate(BaseModel):
    """An exchange API key to verify and store."""

    model_config = ConfigDict(extra="forbid")

    exchange: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)
    ] = Field(description="ccxt exchange id, e.g. binance")
    label: Label
    api_key: SecretField
    api_secret: SecretField
    passphrase: OptionalSecretField = None
    sandbox: bool = Field(default=False, description="use the exchange's testnet")


class CredentialUpdate(BaseModel):
    """Only the label can change; a new key is a new credential."""

    model_config = ConfigDict(extra="forbid")

    label: Label


class KeyPermissionsRead(BaseModel):
    """What the exchange says the key may do."""

    can_trade: bool
    can_withdraw: bool
    flags: dict[str, bool] = Field(
        default_factory=dict, description="the exchange's own flags, e.g. enableReading"
    )


class CredentialRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    exchange: str
    label: str
    api_key_masked: str = Field(description="first and last 4 characters only")
    sandbox: bool
    permissions: KeyPermissionsRead | None = Field(
        description="null when the exchange does not report key permissions"
    )
    last_validated_at: datetime | None
    created_at: datetime
    updated_at: datetime
