"""Rows the bot-running tests start from: a user and a bot written straight to the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from autogrid.core.db import Database
from autogrid.execution.order_writer import BotRef
from autogrid.models import Bot, Event, Fill, Order, OrderEvent, User
from autogrid.scheduling.ticking import tick_bot

if TYPE_CHECKING:
    from autogrid.engine.context import RuntimeContext
    from tests.exchange_sim import BinanceSimulator

D = Decimal
SYMBOL = "BTC/USDT"

GRID_STRATEGY: dict[str, Any] = {
    "lower_price": "95000",
    "upper_price": "105000",
    "grid_count": 10,
    "spacing": "arithmetic",
    "investment": "5000",
    "direction": "long",
}


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def make_user(db: Database) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with db.session_scope() as session:
        session.add(User(id=user_id, email=f"rt-{user_id.hex[:10]}@example.com", password_hash="x"))
    return user_id


async def make_bot(
    db: Database,
    user_id: uuid.UUID,
    *,
    status: str = "running",
    mode: str = "live",
    strategy: dict[str, Any] | None = None,
    breaker: dict[str, Any] | None = None,
    paper: dict[str, Any] | None = None,
    investment: str | None = "5000",
    tick_interval_seconds: int = 5,
    bot_type: str = "grid",
    credential_id: uuid.UUID | None = None,
) -> uuid.UUID:
    bot_id = uuid.uuid4()
    async with db.session_scope() as session:
        session.add(
            Bot(
                id=bot_id,
                user_id=user_id,
                name="test bot",
                type=bot_type,
                exchange="binance",
                symbol=SYMBOL,
                mode=mode,
                credential_id=credential_id,
                paper=paper,
                config={
                    "strategy": strategy or GRID_STRATEGY,
                    "breaker": {"cancel_open_orders_on_trip": False, **(breaker or {})},
                },
                status=status,
                state={},
                investment=D(investment) if investment is not None else None,
                tick_interval_seconds=tick_interval_seconds,
                version=1,
            )
        )
    return bot_id


def bot_ref(bot_id: uuid.UUID, user_id: uuid.UUID, *, replay: bool = False) -> BotRef:
    return BotRef(bot_id, user_id, "binance", SYMBOL, replay=replay)


async def orders_of(db: Database, bot_id: uuid.UUID) -> list[Order]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(Order).where(Order.bot_id == bot_id).order_by(Order.created_at, Order.id)
        )
        return list(rows.all())


async def order_by_id(db: Database, order_id: uuid.UUID) -> Order:
    async with db.session_scope() as session:
        order = await session.get(Order, order_id, populate_existing=True)
        assert order is not None
        return order


async def events_of(db: Database, order_id: uuid.UUID) -> list[tuple[str | None, str]]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        )
        return [(e.from_status, e.to_status) for e in rows.all()]


async def fills_of(db: Database, bot_id: uuid.UUID) -> list[Fill]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(Fill).where(Fill.bot_id == bot_id).order_by(Fill.ts, Fill.trade_id)
        )
        return list(rows.all())


async def bot_events(db: Database, bot_id: uuid.UUID, kind: str | None = None) -> list[Event]:
    """The bot's journal in id order (``kind``: only events of that type)."""
    async with db.session_scope() as session:
        query = select(Event).where(Event.bot_id == bot_id)
        if kind is not None:
            query = query.where(Event.type == kind)
        rows = await session.scalars(query.order_by(Event.id))
        return list(rows.all())


async def load_bot(db: Database, bot_id: uuid.UUID) -> Bot:
    async with db.session_scope() as session:
        bot = await session.get(Bot, bot_id, populate_existing=True)
        assert bot is not None
        return bot


async def count_rows(db: Database, model: Any) -> int:
    async with db.session_scope() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def make_credential(
    db: Database, settings: Any, user_id: uuid.UUID, api_key: str, secret: str
) -> uuid.UUID:
    """An encrypted credential row for ``api_key`` (as the credentials API would store it)."""
    from autogrid.credentials.crypto import keyring_from_settings
    from autogrid.credentials.service import seal_secrets
    from autogrid.exchanges.types import ApiCredentials
    from autogrid.models import ExchangeCredential

    credential_id = uuid.uuid4()
    sealed = seal_secrets(
        keyring_from_settings(settings), credential_id, user_id, ApiCredentials(api_key, secret)
    )
    async with db.session_scope() as session:
        session.add(
            ExchangeCredential(
                id=credential_id,
                user_id=user_id,
                exchange="binance",
                label=f"key-{credential_id.hex[:6]}",
                api_key_masked="simK...0001",
                api_key_ciphertext=sealed.api_key,
                api_secret_ciphertext=sealed.api_secret,
                passphrase_ciphertext=sealed.passphrase,
                key_version=sealed.key_version,
            )
        )
    return credential_id


async def set_bot(db: Database, bot_id: uuid.UUID, **fields: Any) -> None:
    async with db.session_scope() as session:
        bot = await session.get(Bot, bot_id)
        assert bot is not None
        for name, value in fields.items():
            setattr(bot, name, value)


@dataclass(frozen=True, slots=True)
class LiveAccount:
    """What a test of a live bot starts from (the ``live`` fixture): the runtime trading on the
    in-process simulator, and a user whose credential is the simulator's funded account."""

    ctx: RuntimeContext
    db: Database
    sim: BinanceSimulator
    user_id: uuid.UUID
    credential_id: uuid.UUID

    async def bot(self, **fields: Any) -> uuid.UUID:
        """A bot of this user on this credential (``make_bot`` with ``fields``)."""
        return await make_bot(self.db, self.user_id, credential_id=self.credential_id, **fields)

    def reject_new_orders(self) -> None:
        """From now until ``sim.clear_faults()`` the exchange rejects every new order for good, as
        a price filter does (-1013)."""
        self.sim.inject_fault(
            "binance_error",
            "POST /api/v3/order",
            times=None,
            status=400,
            code=-1013,
            msg="Filter failure: PERCENT_PRICE_BY_SIDE",
        )

    async def tick_for(self, bot_id: uuid.UUID, clock: Clock, ticks: int = 8) -> None:
        """``ticks`` ticks 5 s apart on ``clock`` (by default 40 s: the second refusal in a row
        of an order a bot places again waits a minute)."""
        for _ in range(ticks):
            await tick_bot(self.ctx, bot_id)
            clock.move(5)
