"""Request and response bodies of /auth (and the user shape the admin API reuses)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, TypeAdapter

from autogrid.models.user import Plan, Role

PASSWORD_MIN_LENGTH = 8
# Bounds the work an anonymous client can make the hasher do, while allowing passphrases.
PASSWORD_MAX_LENGTH = 1024
# A signed JWT is a few hundred bytes; anything far longer is not ours.
TOKEN_MAX_LENGTH = 4096

# Emails are stored lower-cased so uniqueness and lookups are case-insensitive on every backend.
NormalizedEmail = Annotated[EmailStr, AfterValidator(str.lower)]
EMAIL_ADAPTER: TypeAdapter[str] = TypeAdapter(NormalizedEmail)

NewPassword = Annotated[str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: NormalizedEmail
    password: NewPassword


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: NormalizedEmail
    # No minimum: a too-short password is simply wrong, and gets the same 401 as any other.
    password: Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
    new_password: NewPassword


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=1, max_length=TOKEN_MAX_LENGTH)]


class LogoutRequest(RefreshRequest):
    pass


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="seconds until the access token expires")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: Role
    plan: Plan
    is_active: bool
    bot_limit: int = Field(description="how many bots the user's plan allows")
    created_at: datetime
