"""Signed reads with a user's key through a fresh connector: verifying the key, reading balances.

Every failure becomes one of the API errors the credential routes document: the key refused
(ExchangeKeyRefused, 422), the exchange not answering (ExchangeUnavailable, 503) or answering
nonsense (ExchangeBadGateway, 502). None quotes the exchange's answer, which may carry the key.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

from autogrid.credentials.errors import ExchangeKeyRefused, WithdrawalsEnabled
from autogrid.exchanges.api_errors import ExchangeBadGateway, ExchangeUnavailable
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.errors import AuthenticationFailed, ExchangeError, TemporaryExchangeError
from autogrid.exchanges.pool import ConnectorFactory, ConnectorKey
from autogrid.exchanges.types import ApiCredentials, KeyPermissions

logger = logging.getLogger(__name__)

# Bounds one read, retries included (the connector retries temporary read errors).
VERIFY_DEADLINE_SECONDS = 45.0

T = TypeVar("T")


@runtime_checkable
class ReportsKeyPermissions(Protocol):
    """Connectors that can tell what a key may do (CcxtConnector)."""

    async def fetch_key_permissions(self) -> KeyPermissions | None: ...


async def signed_read(
    connectors: ConnectorFactory,
    *,
    exchange_id: str,
    credential_id: uuid.UUID,
    secrets: ApiCredentials,
    sandbox: bool,
    read: Callable[[ExchangeConnector], Awaitable[T]],
    purpose: str,
) -> T:
    """``read`` through a fresh connector built with the key; closed whatever happens.

    Raises ExchangeKeyRefused, ExchangeUnavailable or ExchangeBadGateway; ``purpose`` names the
    read in the log line of a failure.
    """
    connector = connectors(ConnectorKey(exchange_id, str(credential_id), None, sandbox), secrets)
    failure: Exception
    try:
        async with asyncio.timeout(VERIFY_DEADLINE_SECONDS):
            return await read(connector)
    except AuthenticationFailed:
        failure = ExchangeKeyRefused(exchange_id)
    except TemporaryExchangeError as error:
        failure = ExchangeUnavailable(exchange_id, retry_after=error.retry_after)
    except TimeoutError:
        failure = ExchangeUnavailable(exchange_id)
    except ExchangeError:
        failure = ExchangeBadGateway(exchange_id)
    finally:
        try:
            await connector.close()
        except Exception as error:  # a session that fails to close must not hide the verdict
            logger.warning("closing a %s connector failed: %s", exchange_id, type(error).__name__)
    # The connector already logged the (scrubbed) exchange error; the verdict is enough here.
    logger.info(
        "%s failed exchange=%s credential_id=%s outcome=%s",
        purpose,
        exchange_id,
        credential_id,
        type(failure).__name__,
    )
    raise failure


async def verify_key(
    connectors: ConnectorFactory,
    *,
    exchange_id: str,
    credential_id: uuid.UUID,
    secrets: ApiCredentials,
    sandbox: bool,
) -> KeyPermissions | None:
    """One real signed call with the key, then its permissions where the exchange reports them.

    Raises ExchangeKeyRefused, WithdrawalsEnabled, ExchangeUnavailable or ExchangeBadGateway.
    """

    async def balance_and_permissions(connector: ExchangeConnector) -> KeyPermissions | None:
        await connector.fetch_balance()
        if isinstance(connector, ReportsKeyPermissions):
            return await connector.fetch_key_permissions()
        return None

    permissions = await signed_read(
        connectors,
        exchange_id=exchange_id,
        credential_id=credential_id,
        secrets=secrets,
        sandbox=sandbox,
        read=balance_and_permissions,
        purpose="key verification",
    )
    if permissions is not None and permissions.can_withdraw:
        logger.info(
            "key refused: withdrawals enabled exchange=%s credential_id=%s",
            exchange_id,
            credential_id,
        )
        raise WithdrawalsEnabled(exchange_id)
    return permissions
