"""What a process driving bots keeps between ticks: the database, connectors, caches, its id.

A worker process ticks many bots; rebuilding an engine, a ccxt instance (markets, throttle) or a
strategy for every tick would cost more than the tick. The context is built once per process
(``process.py``) and torn down on shutdown; tests build one directly with their own connectors.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from autogrid.core.config import Settings
from autogrid.core.db import HIDE_PARAMETERS, Database, pool_sizes
from autogrid.core.redis import create_redis
from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.budget import create_budgets
from autogrid.exchanges.paper import PaperExchange
from autogrid.exchanges.pool import ConnectorFactory, ConnectorPool, configured_ccxt_factory
from autogrid.risk import repository as kill_switches
from autogrid.trading.orders import UnknownPolicy
from autogrid.trading.schedule import RecurringBuy
from autogrid.trading.strategies.base import Strategy

logger = logging.getLogger(__name__)

# A tick that has not renewed its lease for this long is presumed dead; its bot is free again.
DEFAULT_LEASE_TTL = timedelta(seconds=60)
# Replayed candles decided per tick at most, so one fast replay cannot hog a worker.
DEFAULT_REPLAY_STEPS = 200


KILL_SWITCH_CACHE_SECONDS = 1.0


def runtime_database(settings: Settings) -> Database:
    """The workers' engine: pooled, without a ping per checkout. A ping is three round trips
    (BEGIN, ";", ROLLBACK with asyncpg) for every transaction, and a tick is a few short ones;
    a connection that died meanwhile fails its first statement, is discarded by the pool, and
    the bot's next tick gets a fresh one."""
    if settings.is_sqlite:
        return Database.from_settings(settings)
    engine = create_async_engine(
        make_url(settings.database_url),
        **pool_sizes(settings),
        pool_pre_ping=False,
        pool_recycle=1800,
        hide_parameters=HIDE_PARAMETERS,
    )
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False))


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    lease_ttl: timedelta = DEFAULT_LEASE_TTL
    policy: UnknownPolicy = field(default_factory=UnknownPolicy)
    replay_steps_per_tick: int = DEFAULT_REPLAY_STEPS
    # How long a process trusts its last read of the kill switch at the start of a step.
    kill_switch_cache_seconds: float = KILL_SWITCH_CACHE_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeOptions:
        return cls(
            lease_ttl=timedelta(seconds=settings.bot_lease_seconds),
            policy=UnknownPolicy(
                grace_seconds=settings.unknown_order_grace_seconds,
                max_checks=settings.unknown_order_lookups,
                spacing_seconds=settings.unknown_order_lookup_spacing_seconds,
            ),
        )


@dataclass(slots=True)
class CachedStrategy:
    config: dict[str, Any]
    strategy: Strategy[Any]
    # A DCA bot's recurring buys (RecurringBuy, quote amount), parsed with the strategy.
    schedule: tuple[RecurringBuy, Decimal] | None = None


def ccxt_connectors(settings: Settings, redis: Redis | None) -> ConnectorFactory:
    """The workers' ccxt connectors: request budgets shared through ``redis`` by every process,
    the settings' request timeout and API URLs."""
    if settings.exchange_api_urls:
        # Orders and keys go wherever these point: the operator must see it in the log.
        overridden = ", ".join(sorted(settings.exchange_api_urls))
        logger.warning("exchange API URLs replaced by the settings for: %s", overridden)
    return configured_ccxt_factory(create_budgets(redis, settings.redis_key_prefix), settings)


class RuntimeContext:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        connectors: ConnectorPool,
        *,
        options: RuntimeOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
        redis: Redis | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.connectors = connectors
        self.options = options or RuntimeOptions()
        self.clock = clock
        self.redis = redis
        # The lease owner: unique per process and per context, readable in the bots table.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.strategies: dict[uuid.UUID, CachedStrategy] = {}
        self.papers: dict[tuple[uuid.UUID, uuid.UUID], PaperExchange] = {}
        # Replay bots: how far this process saw each account matched (it only ever grows).
        self.replay_marks: dict[uuid.UUID, datetime] = {}
        self._killed: str | None = None
        self._kill_read_at = -float("inf")

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        options: RuntimeOptions | None = None,
        factory: ConnectorFactory | None = None,
        redis: Redis | None = None,
    ) -> RuntimeContext:
        """The production context: pooled database, the settings' lease and unknown-order
        timings, ccxt with request budgets shared through Redis (``ccxt_connectors``)."""
        redis = redis or create_redis(settings)
        if factory is None:
            factory = ccxt_connectors(settings, redis)
        return cls(
            settings,
            runtime_database(settings),
            ConnectorPool(factory),
            options=options or RuntimeOptions.from_settings(settings),
            redis=redis,
        )

    async def kill_switch(self) -> str | None:
        """The kill switch's reason if engaged, read at most once a second per process. Only
        to halt bots at the start of a tick: a decision re-reads it in its own transaction
        before any order is accepted, so no order ever slips past it."""
        if time.monotonic() - self._kill_read_at >= self.options.kill_switch_cache_seconds:
            async with self.database.session_scope() as session:
                self._killed = await kill_switches.kill_switch_engaged(session)
            self._kill_read_at = time.monotonic()
        return self._killed

    def forget(self, bot_id: uuid.UUID) -> None:
        """Drop what is cached about a bot (its configuration may have changed)."""
        self.strategies.pop(bot_id, None)
        for key in [key for key in self.papers if key[0] == bot_id]:
            del self.papers[key]
        self.replay_marks.pop(bot_id, None)

    async def close(self) -> None:
        await self.connectors.close_all()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.dispose()
