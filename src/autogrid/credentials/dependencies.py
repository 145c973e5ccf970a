"""Dependencies of the credentials routes: the key ring, the connector factory, the verify quota.

The connector factory is ``app.state.connector_factory`` (an ``exchanges.pool.ConnectorFactory``)
when the application set one; tests set it to build real CcxtConnectors pointed at the exchange
simulator. Without it, one CcxtConnector factory sharing the request budgets (Redis when there is
Redis) is built on first use and kept on app.state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from autogrid.api.deps import SettingsDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.core.ratelimit import RateLimiterDep, enforce_rate_limit
from autogrid.credentials.crypto import KeyRing, keyring_from_settings
from autogrid.exchanges.budget import MemoryBudgets, RedisBudgets, RequestBudgets
from autogrid.exchanges.pool import ConnectorFactory, configured_ccxt_factory

CONNECTOR_FACTORY_STATE = "connector_factory"
# Each verification is a signed call to the exchange from our IP: a user must not be able to
# burn the exchange's IP weight (and get our servers banned) by submitting keys in a loop.
VERIFICATIONS_PER_HOUR = 30


def get_keyring(settings: SettingsDep) -> KeyRing:
    return keyring_from_settings(settings)


def get_connector_factory(request: Request) -> ConnectorFactory:
    state = request.app.state
    factory: ConnectorFactory | None = getattr(state, CONNECTOR_FACTORY_STATE, None)
    if factory is None:
        redis = getattr(state, "redis", None)
        budgets: RequestBudgets = (
            RedisBudgets(redis, state.settings.redis_key_prefix)
            if redis is not None
            else MemoryBudgets()
        )
        factory = configured_ccxt_factory(budgets, state.settings)
        setattr(state, CONNECTOR_FACTORY_STATE, factory)
    return factory


async def limit_key_verifications(user: CurrentUser, limiter: RateLimiterDep) -> None:
    await enforce_rate_limit(
        limiter,
        f"credential-verify:{user.id}",
        VERIFICATIONS_PER_HOUR,
        3600,
        "too many key verifications; try again later",
    )


KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
ConnectorFactoryDep = Annotated[ConnectorFactory, Depends(get_connector_factory)]
