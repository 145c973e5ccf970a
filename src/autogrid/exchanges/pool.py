"""Connectors reused per credential, closed on shutdown.

A ccxt instance owns an HTTP session, its loaded markets and its local throttle: opening one per
call would reload markets every time and defeat the throttle. The pool keeps one connector per
(exchange, credential id, credential version, sandbox). A newer version of a credential (the key
was rotated or edited) replaces and closes the older connector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from autogrid.core.config import Settings
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.budget import MemoryBudgets, RequestBudgets, credential_key
from autogrid.exchanges.types import ApiCredentials

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectorKey:
    exchange_id: str
    credential_id: str | None  # None: public market data, no key
    credential_version: str | None
    sandbox: bool

    @property
    def family(self) -> tuple[str, str | None, bool]:
        """Every version of one credential."""
        return (self.exchange_id, self.credential_id, self.sandbox)


ConnectorFactory = Callable[[ConnectorKey, ApiCredentials | None], ExchangeConnector]


def ccxt_factory(
    budgets: RequestBudgets,
    *,
    timeout_ms: int = 10_000,
    api_urls: Mapping[str, Mapping[str, str]] | None = None,
) -> ConnectorFactory:
    """Builds CcxtConnectors sharing ``budgets``; ``api_urls`` (per exchange id) replace ccxt's
    REST base URLs (see ``Settings.exchange_api_urls``)."""
    from autogrid.exchanges.ccxt import CcxtConnector, budget_spec_for

    def build(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        budget = budgets.budget_for(
            key.exchange_id,
            credential_key(credentials.api_key if credentials else None),
            budget_spec_for(key.exchange_id),
        )
        return CcxtConnector(
            key.exchange_id,
            credentials,
            sandbox=key.sandbox,
            budget=budget,
            timeout_ms=timeout_ms,
            api_urls=(api_urls or {}).get(key.exchange_id),
        )

    return build


def configured_ccxt_factory(budgets: RequestBudgets, settings: Settings) -> ConnectorFactory:
    """The deployment's ccxt connectors: its request timeout and API URL overrides."""
    return ccxt_factory(
        budgets, timeout_ms=settings.exchange_timeout_ms, api_urls=settings.exchange_api_urls
    )


class ConnectorPool:
    def __init__(self, factory: ConnectorFactory | None = None) -> None:
        self._factory = factory or ccxt_factory(MemoryBudgets())
        self._connectors: dict[ConnectorKey, ExchangeConnector] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    def __len__(self) -> int:
        return len(self._connectors)

    async def get(
        self,
        exchange_id: str,
        *,
        credential_id: str | None = None,
        credential_version: str | None = None,
        credentials: ApiCredentials | None = None,
        sandbox: bool = False,
    ) -> ExchangeConnector:
        """The connector for this credential (built with ``credentials`` on first use)."""
        if (credential_id is None) != (credentials is None):
            raise ValueError("credential_id and credentials go together")
        key = ConnectorKey(exchange_id, credential_id, credential_version, sandbox)
        async with self._lock:
            if self._closed:
                raise RuntimeError("the connector pool is closed")
            connector = self._connectors.get(key)
            if connector is not None:
                return connector
            stale = [old for old in self._connectors if old.family == key.family]
            connector = self._factory(key, credentials)
            self._connectors[key] = connector
            for old in stale:
                await self._close(old)
            return connector

    async def public(self, exchange_id: str, *, sandbox: bool = False) -> ExchangeConnector:
        """Market data without a key, shared by everyone."""
        return await self.get(exchange_id, sandbox=sandbox)

    async def discard(self, exchange_id: str, credential_id: str) -> None:
        """Close every connector of a credential (deleted, or found revoked)."""
        async with self._lock:
            for key in [
                k
                for k in self._connectors
                if k.credential_id == credential_id and k.exchange_id == exchange_id
            ]:
                await self._close(key)

    async def close_all(self) -> None:
        """Close everything at once: ccxt lingers ~250 ms per close for TLS shutdown."""
        async with self._lock:
            self._closed = True
            await asyncio.gather(*(self._close(key) for key in list(self._connectors)))

    async def _close(self, key: ConnectorKey) -> None:
        connector = self._connectors.pop(key)
        try:
            await connector.close()
        except Exception as error:  # shutdown goes on: one stuck session must not keep others open
            logger.warning("closing %s failed: %s", key.exchange_id, type(error).__name__)
