"""Sending one signed webhook request, per the Standard Webhooks specification.

Every request carries ``webhook-id`` (stable for a message, so a receiver deduplicates retries),
``webhook-timestamp`` and ``webhook-signature`` (HMAC-SHA256 by the ``standardwebhooks``
library, with the channel's ``whsec_`` secret). The body is ``{"type", "timestamp", "data"}``.
Any 2xx answer is a success; anything else, a redirect included (never followed), is a failure
whose description names neither the URL nor the secret.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from autogrid.notifications.secrets import WebhookConfig
from autogrid.notifications.targets import TargetRefused, pin_webhook_url

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
SECRET_BYTES = 32
USER_AGENT = "AutoGrid-Webhooks/1"


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """What is sent; ``message_id`` is the same on every attempt, so receivers deduplicate."""

    message_id: str
    type: str
    occurred_at: datetime
    data: Mapping[str, Any]

    def body(self) -> bytes:
        document = {
            "type": self.type,
            "timestamp": self.occurred_at.isoformat(),
            "data": dict(self.data),
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class SendOutcome:
    ok: bool
    status_code: int | None
    error: str | None
    # The receiver asked to wait this long (Telegram's flood control): a delay, not a failure.
    retry_after: float | None = None


def signed_headers(
    config: WebhookConfig, message: WebhookMessage, body: bytes, sent_at: datetime
) -> dict[str, str]:
    """Signed at the time of sending (receivers refuse stale timestamps), so a retry hours
    later still verifies."""
    signature = Webhook(config.signing_secret).sign(message.message_id, sent_at, body)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }


async def send_webhook(
    config: WebhookConfig,
    message: WebhookMessage,
    *,
    sent_at: datetime,
    allow_private: bool,
    timeout_seconds: float,
) -> SendOutcome:
    """One attempt; never raises for a network or receiver failure (the outcome says it)."""
    try:
        target = await pin_webhook_url(config.url, allow_private=allow_private)
    except TargetRefused as refused:
        return SendOutcome(ok=False, status_code=None, error=refused.message)
    body = message.body()
    headers = signed_headers(config, message, body, sent_at) | {"host": target.host_header}
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client:
            answer = await client.post(
                target.url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.tls_hostname},
            )
    except httpx.TimeoutException:
        return SendOutcome(ok=False, status_code=None, error="the receiver did not answer in time")
    except httpx.HTTPError as error:
        # httpx messages may quote the URL (and its credentials): only the kind of failure.
        return SendOutcome(
            ok=False,
            status_code=None,
            error=f"could not reach the receiver ({type(error).__name__})",
        )
    if 200 <= answer.status_code < 300:
        return SendOutcome(ok=True, status_code=answer.status_code, error=None)
    return SendOutcome(
        ok=False,
        status_code=answer.status_code,
        error=f"the receiver answered HTTP {answer.status_code}",
    )
