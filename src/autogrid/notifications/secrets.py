"""A channel's destination and secrets, sealed like exchange secrets.

The whole configuration (for a webhook: its URL, which may carry credentials, and its signing
secret) is one JSON document encrypted under the newest master key with AES-GCM, bound to the
channel's row id, its owner and the field name ``notification_channels.config``: a blob copied
to another channel, another user or an exchange credential's column fails to decrypt.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from autogrid.credentials.crypto import KeyRing, SecretContext

CONFIG_FIELD = "notification_channels.config"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    signing_secret: str

    def __repr__(self) -> str:  # never the URL (it may hold credentials) nor the secret
        return "WebhookConfig(url=***, signing_secret=***)"


def seal_webhook(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, config: WebhookConfig
) -> bytes:
    document = json.dumps({"url": config.url, "signing_secret": config.signing_secret})
    return keyring.encrypt(document, SecretContext(row_id, owner_id, CONFIG_FIELD))


def open_webhook(
    keyring: KeyRing, row_id: uuid.UUID, owner_id: uuid.UUID, blob: bytes
) -> WebhookConfig:
    """Raises ``CredentialCryptoError`` when the blob cannot be decrypted with the keys at hand."""
    document = json.loads(keyring.decrypt(blob, SecretContext(row_id, owner_id, CONFIG_FIELD)))
    return WebhookConfig(url=document["url"], signing_secret=document["signing_secret"])
