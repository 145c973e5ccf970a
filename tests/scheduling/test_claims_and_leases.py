"""Claims, leases and duplicates: a second claimer finds nothing, a duplicated tick does nothing,
a held lease keeps everyone else out until it expires; lifecycle commands and paper bots on live
prices."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext, RuntimeOptions
from autogrid.engine.step import TICKING_STATUSES
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.pool import ConnectorKey, ConnectorPool
from autogrid.exchanges.types import ApiCredentials, MarketRules
from autogrid.models import BotStatus
from autogrid.scheduling import repository as leases
from autogrid.scheduling.claims import claim_due, tick_many
from autogrid.scheduling.ticking import tick_bot
from tests.exchange_sim import BinanceSimulator
from tests.support.contexts import simulator_factory
from tests.support.factories import (
    Clock,
    LiveAccount,
    load_bot,
    make_bot,
    make_user,
    orders_of,
    set_bot,
)


async def test_two_claimers_never_take_the_same_bot(db: Database) -> None:
    user_id = await make_user(db)
    # An hour's interval: the third claim below cannot find them due again on a slow machine.
    due = [
        await make_bot(db, user_id, status=s, tick_interval_seconds=3600)
        for s in ("running", "paused", "starting")
    ]
    await make_bot(db, user_id, status="stopped")
    later = await make_bot(db, user_id, status="running")
    await set_bot(db, later, next_tick_at=datetime.now(UTC) + timedelta(hours=1))

    first, second = await asyncio.gather(claim_due(db), claim_due(db))

    assert sorted(first + second) == sorted(due)
    assert not set(first) & set(second)
    assert await claim_due(db) == []  # each was pushed one interval ahead
    bot = await load_bot(db, due[0])
    assert bot.next_tick_at is not None and bot.next_tick_at > datetime.now(UTC)


async def test_a_duplicated_tick_does_nothing_while_the_first_holds_the_bot(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID, credential_id: uuid.UUID
) -> None:
    bot_id = await make_bot(db, user_id, status="starting", credential_id=credential_id)

    ran = await tick_many(ctx, [bot_id, bot_id, bot_id])

    assert ran == 1
    assert len(await orders_of(db, bot_id)) == 5  # one ladder, not three
    await tick_bot(ctx, bot_id)  # the lease was given back: the next tick runs
    assert len(await orders_of(db, bot_id)) == 5


async def test_a_held_lease_keeps_others_out_until_it_expires(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID, clock: Clock
) -> None:
    bot_id = await make_bot(db, user_id, status="running")
    async with db.session_scope() as session:
        assert await leases.acquire_lease(
            session, bot_id, "dead-worker", clock(), timedelta(seconds=30)
        )

    assert (await tick_bot(ctx, bot_id)).ran is False
    clock.move(31)
    async with db.session_scope() as session:
        assert await leases.acquire_lease(
            session, bot_id, "another", clock(), timedelta(seconds=30)
        )


async def test_pause_keeps_the_books_and_resume_decides_again(live: LiveAccount) -> None:
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)
    await set_bot(live.db, bot_id, status="paused")
    live.sim.set_price("BTC/USDT", "98500")

    await tick_bot(live.ctx, bot_id)  # the fill is recorded; no decision: no counter-order

    rows = await orders_of(live.db, bot_id)
    assert sorted(o.status for o in rows) == ["filled", "open", "open", "open", "open"]
    await set_bot(live.db, bot_id, status="running")
    await tick_bot(live.ctx, bot_id)
    assert len(await orders_of(live.db, bot_id)) == 6  # the sell answering the fill


async def test_a_paper_bot_on_live_prices_trades_on_wall_time(
    ctx: RuntimeContext, db: Database, sim: BinanceSimulator, user_id: uuid.UUID, clock: Clock
) -> None:
    bot_id = await make_bot(
        db,
        user_id,
        status="starting",
        mode="paper",
        paper={"price_source": "live", "timeframe": "1m", "balances": {"USDT": "10000"}},
    )
    await tick_bot(ctx, bot_id)

    bot = await load_bot(db, bot_id)
    assert bot.status == BotStatus.RUNNING
    rows = await orders_of(db, bot_id)
    assert sorted(o.price for o in rows if o.price) == [95000, 96000, 97000, 98000, 99000]
    assert {o.status for o in rows} == {"open"}
    assert sim.create_request_counts() == {}  # paper: nothing reached the exchange


def test_a_stopped_bot_does_not_tick() -> None:
    assert BotStatus.STOPPED not in TICKING_STATUSES


@pytest.mark.parametrize("kind", ["start", "stop", "pause", "resume"])
async def test_lifecycle_commands_send_a_tick_after_commit(kind: str) -> None:
    from autogrid.bots.dispatch import BotCommand, BotCommandKind
    from autogrid.scheduling.dispatcher import TICK_BOT_TASK, CeleryBotDispatcher

    sent: list[tuple[str, list[str]]] = []

    class Recorder:
        def send_task(self, name: str, args: list[str]) -> None:
            sent.append((name, args))

        def close(self) -> None:
            pass

    bot_id = uuid.uuid4()
    await CeleryBotDispatcher(Recorder()).dispatch(BotCommand(bot_id, BotCommandKind(kind), 2))
    assert sent == [(TICK_BOT_TASK, [str(bot_id)])]


class Stall:
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.resume = asyncio.Event()


class StalledExchange:
    """The simulator's connector, whose market rules hang until the stall is resumed."""

    def __init__(self, inner: ExchangeConnector, stall: Stall) -> None:
        self.inner = inner
        self.stall = stall

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def market(self, symbol: str) -> MarketRules:
        self.stall.entered.set()
        await self.stall.resume.wait()
        return await self.inner.market(symbol)


async def test_a_long_tick_keeps_its_lease_alive(
    settings: Settings,
    db: Database,
    sim: BinanceSimulator,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    """The heartbeat renews the lease while a tick outlasts its lifetime (a slow exchange)."""
    bot_id = await make_bot(db, user_id, status="running", credential_id=credential_id)
    stall = Stall()
    build = simulator_factory(sim.url)

    def stalling(key: ConnectorKey, credentials: ApiCredentials | None) -> ExchangeConnector:
        return StalledExchange(build(key, credentials), stall)

    slow = RuntimeContext(
        settings,
        db,
        ConnectorPool(stalling),
        options=RuntimeOptions(lease_ttl=timedelta(seconds=0.6)),
    )
    tick = asyncio.create_task(tick_bot(slow, bot_id))
    await asyncio.wait_for(stall.entered.wait(), timeout=30)
    await asyncio.sleep(1.2)  # twice the lease's lifetime into the stalled call
    async with db.session_scope() as session:
        taken = await leases.acquire_lease(
            session, bot_id, "intruder", datetime.now(UTC), timedelta(seconds=5)
        )
    assert taken is False
    stall.resume.set()
    assert (await tick).ran
    await slow.close()
