"""Runtime contexts for in-process tests: the test's database and clock, connectors to the
in-process simulator (fast retries, short timeouts), quick lookups for unknown orders."""

from __future__ import annotations

import uuid
from datetime import timedelta

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext, RuntimeOptions
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.budget import MemoryBudgets, RequestBudgets
from autogrid.exchanges.ccxt import CcxtConnector, budget_spec_for
from autogrid.exchanges.pool import ConnectorFactory, ConnectorKey, ConnectorPool
from autogrid.exchanges.types import ApiCredentials
from autogrid.models import BotStatus
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.orders import UnknownPolicy
from tests.exchanges.conftest import FAST_RETRY, sim_api_urls
from tests.support.factories import Clock, load_bot

# Short windows so an unknown order resolves within a test, spaced by the test's clock.
TEST_POLICY = UnknownPolicy(grace_seconds=30, max_checks=3, spacing_seconds=5)


def simulator_connector(
    api_urls: dict[str, str],
    exchange_id: str,
    credentials: ApiCredentials | None,
    budgets: RequestBudgets,
    *,
    timeout_ms: int,
) -> CcxtConnector:
    """A real ccxt connector to the in-process simulator (``api_urls``: ``sim_api_urls`` of its
    URL, worked out once per test), retrying fast."""
    connector = CcxtConnector(
        exchange_id,
        credentials,
        budget=budgets.budget_for(exchange_id, "test", budget_spec_for(exchange_id)),
        timeout_ms=timeout_ms,
        retry_policy=FAST_RETRY,
        api_urls=api_urls,
    )
    # ccxt sleeps 250 ms in close() for TLS shutdown; the simulator speaks plain HTTP.
    connector._exchange.timeout_on_exit = 0
    return connector


def simulator_factory(sim_url: str | None) -> ConnectorFactory:
    budgets = MemoryBudgets()
    api_urls = sim_api_urls(sim_url) if sim_url else None

    def build(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        if api_urls is None:
            raise AssertionError("this test has no exchange simulator")
        return simulator_connector(
            api_urls, key.exchange_id, credentials, budgets, timeout_ms=1_000
        )

    return build


def runtime_context(
    settings: Settings,
    db: Database,
    clock: Clock,
    *,
    sim_url: str | None = None,
    replay_steps: int = 10_000,
    owner: str | None = None,
) -> RuntimeContext:
    return RuntimeContext(
        settings,
        db,
        ConnectorPool(simulator_factory(sim_url)),
        options=RuntimeOptions(
            lease_ttl=timedelta(seconds=60),
            policy=TEST_POLICY,
            replay_steps_per_tick=replay_steps,
        ),
        clock=clock,
        owner=owner,
    )


async def tick_until_stopped(
    ctx: RuntimeContext, db: Database, bot_id: uuid.UUID, most: int
) -> None:
    """Tick a replay bot whose clock is past its last candle until it has stopped itself (the
    replay is over), at most ``most`` times."""
    for _ in range(most):
        await tick_bot(ctx, bot_id)
        if (await load_bot(db, bot_id)).status == BotStatus.STOPPED:
            return
    bot = await load_bot(db, bot_id)
    raise AssertionError(f"the replay bot is {bot.status} ({bot.error}), not stopped")
