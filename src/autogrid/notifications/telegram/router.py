"""/api/v1/telegram/webhook: updates of the platform's bot, posted by Telegram.

Active only when ``TELEGRAM_WEBHOOK_SECRET`` is set (otherwise it answers 404 and beat polls
instead). Telegram sends the secret in ``X-Telegram-Bot-Api-Secret-Token``; a request without
it, or with another, is refused with 401 and handles nothing. The operator registers the URL
once with the Bot API's ``setWebhook`` (``secret_token`` = the setting), see
docs/notifications.md. Each update is handled once however often Telegram retries it.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Response, status

from autogrid.api.deps import DatabaseDep, SettingsDep
from autogrid.bots.dependencies import get_bot_dispatcher
from autogrid.bots.dispatch import BotDispatcher
from autogrid.core.errors import NotFound, Unauthorized
from autogrid.credentials.dependencies import KeyRingDep
from autogrid.notifications.telegram.client import open_bot
from autogrid.notifications.telegram.updates import handle_update
from autogrid.observability import register_secret

router = APIRouter(prefix="/telegram", tags=["notifications"])


@router.post(
    "/webhook",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    include_in_schema=False,  # Telegram's endpoint, not a client API
)
async def telegram_webhook(
    update: Annotated[dict[str, Any], Body()],
    database: DatabaseDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
    dispatcher: Annotated[BotDispatcher, Depends(get_bot_dispatcher)],
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> None:
    expected = settings.telegram_webhook_secret
    if expected is None or settings.telegram_bot_token is None:
        raise NotFound("not found")
    register_secret(expected.get_secret_value())  # never in a log line
    if secret is None or not hmac.compare_digest(
        secret.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("wrong or missing X-Telegram-Bot-Api-Secret-Token")
    async with open_bot(settings) as bot:
        await handle_update(database, keyring, settings, bot, dispatcher, update)
