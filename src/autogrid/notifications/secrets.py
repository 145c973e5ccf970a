"""A channel's destination and secrets, sealed like exchange secrets.

The whole configuration is one JSON document encrypted under the newest master key with
AES-GCM, bound to the channel's row id, its owner and the field name
``notification_channels.config``: a blob copied to another channel, another user or an exchange
credential's column fails to decrypt. For a webhook it holds the URL (which may carry
credentials) and the signing secret; for Telegram, the linked chat's id (null until linked);
for email, Discord and Slack, the apprise URL.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from autogrid.credentials.crypto import KeyRing, SecretContext

CONFIG_FIELD = "notification_channels.config"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    signing_secret: str

    def __repr__(self) -> str:  # never the URL (it may hold credentials) nor the secret
        return "WebhookConfig(url=***, signing_secret=***)"


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    chat_id: int | None  # None until the chat sent /start with the link code

    def __repr__(self) -> str:
        return "TelegramConfig(chat_id=***)"


@dataclass(frozen=True, slots=True)
class AppriseConfig:
    url: str  # an apprise URL (email, Discord, Slack): every part of it may be a credential

    def __repr__(self) -> str:
        return "AppriseConfig(url=***)"


def seal_document(keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, document: str) -> bytes:
    return keyring.encrypt(document, SecretContext(row_id, owner_id, CONFIG_FIELD))


def open_document(keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, blob: bytes) -> str:
    """Raises ``CredentialCryptoError`` when the blob cannot be decrypted with the keys at hand."""
    return keyring.decrypt(blob, SecretContext(row_id, owner_id, CONFIG_FIELD))


def seal_fields(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, fields: dict[str, Any]
) -> bytes:
    return seal_document(keyring, row_id, owner_id, json.dumps(fields))


def open_fields(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, blob: bytes
) -> dict[str, Any]:
    """Raises ``CredentialCryptoError`` when the blob cannot be decrypted with the keys at hand."""
    fields: dict[str, Any] = json.loads(open_document(keyring, row_id, owner_id, blob))
    return fields


def seal_webhook(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, config: WebhookConfig
) -> bytes:
    fields = {"url": config.url, "signing_secret": config.signing_secret}
    return seal_fields(keyring, row_id, owner_id, fields)


def open_webhook(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, blob: bytes
) -> WebhookConfig:
    """Raises ``CredentialCryptoError`` when the blob cannot be decrypted with the keys at hand."""
    document = open_fields(keyring, row_id, owner_id, blob)
    return WebhookConfig(url=document["url"], signing_secret=document["signing_secret"])


def seal_telegram(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, config: TelegramConfig
) -> bytes:
    return seal_fields(keyring, row_id, owner_id, {"chat_id": config.chat_id})


def open_telegram(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, blob: bytes
) -> TelegramConfig:
    """Raises ``CredentialCryptoError`` when the blob cannot be decrypted with the keys at hand."""
    document = open_fields(keyring, row_id, owner_id, blob)
    chat_id = document.get("chat_id")
    return TelegramConfig(chat_id=int(chat_id) if chat_id is not None else None)


def seal_apprise(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, config: AppriseConfig
) -> bytes:
    return seal_fields(keyring, row_id, owner_id, {"url": config.url})


def open_apprise(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, blob: bytes
) -> AppriseConfig:
    """Raises ``CredentialCryptoError`` when the blob cannot be decrypted with the keys at hand."""
    document = open_fields(keyring, row_id, owner_id, blob)
    return AppriseConfig(url=document["url"])
