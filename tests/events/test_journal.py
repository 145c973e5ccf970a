"""An event is written in its change's own transaction: a rollback leaves neither, a commit
both; ids are global and grow with every event, whatever the bot or user."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from autogrid.bots.repository import lock_bot_row
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.engine.guard import halt
from autogrid.engine.stopping import Sale, record_sale
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.execution.order_writer import BotRef, OrderWriter
from autogrid.execution.reconcile import report_unknown_orders
from autogrid.models import Event, KillSwitch, Order, User
from autogrid.risk import service as risk_service
from autogrid.trading.risk import OrderIntent
from tests.support.factories import SYMBOL, load_bot, make_bot, make_user

D = Decimal


class Boom(Exception):
    """Raised after the writes, so the transaction rolls back."""


async def _events(database: Database) -> list[Event]:
    async with database.session_scope() as session:
        return list((await session.scalars(select(Event).order_by(Event.id))).all())


async def test_a_rolled_back_halt_leaves_no_event_and_a_committed_one_has_it(
    database: Database,
) -> None:
    user_id = await make_user(database)
    bot_id = await make_bot(database, user_id, status="running")

    with pytest.raises(Boom):
        async with database.session_scope() as session:
            bot = await lock_bot_row(session, bot_id)
            assert bot is not None and await halt(session, bot, "loss limit: 6%")
            await session.flush()
            raise Boom
    assert (await load_bot(database, bot_id)).status == "running"
    assert await _events(database) == []

    async with database.session_scope() as session:
        bot = await lock_bot_row(session, bot_id)
        assert bot is not None and await halt(session, bot, "loss limit: 6%")
    [event] = await _events(database)
    assert (event.type, event.user_id, event.bot_id) == ("breaker_tripped", user_id, bot_id)
    assert event.message == "loss limit: 6%"
    assert (await load_bot(database, bot_id)).status == "halted"


async def test_a_rolled_back_kill_switch_leaves_no_account_event(database: Database) -> None:
    owner = await make_user(database)
    await make_bot(database, owner, status="running")
    admin_id = await make_user(database)
    async with database.session_scope() as session:
        admin = await session.get(User, admin_id)
    assert admin is not None

    with pytest.raises(Boom):
        async with database.session_scope() as session:
            await risk_service.engage_kill_switch(session, admin, "drill")
            raise Boom
    assert await _events(database) == []
    async with database.session_scope() as session:
        assert await session.get(KillSwitch, "global") is None

    async with database.session_scope() as session:
        await risk_service.engage_kill_switch(session, admin, "drill")
    events = await _events(database)
    assert sorted((e.type, e.bot_id is None) for e in events) == [
        ("breaker_tripped", False),
        ("kill_switch_engaged", True),
    ]
    assert {e.user_id for e in events} == {owner}  # the admin owns no bot


async def test_ids_are_global_and_grow_across_bots_users_and_transactions(
    database: Database,
) -> None:
    bots = []
    for _ in range(2):
        user_id = await make_user(database)
        bots += [(user_id, await make_bot(database, user_id)) for _ in range(2)]
    written: list[uuid.UUID] = []
    for round in range(3):
        async with database.session_scope() as session:
            for user_id, bot_id in bots[round % 2 :] + bots[: round % 2]:
                record_event(
                    session,
                    user_id=user_id,
                    bot_id=bot_id,
                    type=EventType.FILL,
                    message="fill",
                    at=utcnow(),
                )
                written.append(bot_id)
    events = await _events(database)
    assert [e.bot_id for e in events] == written  # ids in the order the events were written
    ids = [e.id for e in events]
    assert ids == sorted(set(ids)) and len(ids) == 12


async def test_the_stop_sale_and_a_strange_order_report_only_flush_a_rollback_leaves_nothing(
    database: Database,
) -> None:
    """The stop's sale and the report of exchange orders that are not ours are written in the
    step's transaction: rolled back, neither the order, the bot state nor the event remains."""
    user_id = await make_user(database)
    bot_id = await make_bot(database, user_id, status="stopping")
    writer = OrderWriter(BotRef(bot_id, user_id, "binance", SYMBOL))
    market = MarketRules(SYMBOL, "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"))
    # Nothing to sell: the sale is skipped, with its event, and the stop is over.
    skipped = Sale(None, "nothing sold: amount below the minimum", D("100000"))
    denied = Sale(OrderIntent("STOPSELL", Side.SELL, OrderType.MARKET, D("0.01")), None, D(1))
    before = (await load_bot(database, bot_id)).state

    for sale in (skipped, denied):
        with pytest.raises(Boom):
            async with database.session_scope() as session:
                engaged = KillSwitch(
                    scope="global", engaged=True, reason="drill", changed_at=utcnow()
                )
                session.add(engaged)
                await session.flush()
                assert (await record_sale(session, writer, market, sale, utcnow())).over
                assert await report_unknown_orders(session, bot_id, ["x-1"], utcnow()) == ["x-1"]
                await session.flush()
                raise Boom
    assert await _events(database) == []
    assert (await load_bot(database, bot_id)).state == before
    async with database.session_scope() as session:
        assert (await session.scalars(select(Order))).all() == []

    async with database.session_scope() as session:
        await record_sale(session, writer, market, skipped, utcnow())
        await report_unknown_orders(session, bot_id, ["x-1"], utcnow())
    assert sorted(e.type for e in await _events(database)) == [
        "stop_sell_skipped",
        "unknown_exchange_order",
    ]
