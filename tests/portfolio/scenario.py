"""Rows the portfolio tests build on: bots, their orders and fills, paper accounts, candles."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.core.db import Database
from autogrid.models import (
    Bot,
    BotDay,
    BotMetric,
    Candle,
    Fill,
    Order,
    PaperAccount,
    PaperBalance,
)

D = Decimal


async def add_bot(
    db: Database,
    user_id: uuid.UUID,
    *,
    mode: str = "live",
    credential_id: uuid.UUID | None = None,
    paper_account: uuid.UUID | None = None,
    symbol: str = "BTC/USDT",
    name: str = "bot",
) -> uuid.UUID:
    bot_id = uuid.uuid4()
    state: dict[str, Any] = {}
    if paper_account is not None:
        state["paper"] = {"account_id": str(paper_account), "settings": {}}
    async with db.session_scope() as session:
        session.add(
            Bot(
                id=bot_id,
                user_id=user_id,
                name=name,
                type="grid",
                exchange="binance",
                symbol=symbol,
                mode=mode,
                credential_id=credential_id,
                config={},
                status="stopped",
                state=state,
                version=1,
            )
        )
    return bot_id


async def add_fill(
    db: Database,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
    side: str,
    amount: str,
    price: str,
    fee: str,
    ts: datetime,
    symbol: str = "BTC/USDT",
) -> None:
    order_id = uuid.uuid4()
    async with db.session_scope() as session:
        session.add(
            Order(
                id=order_id,
                bot_id=bot_id,
                user_id=user_id,
                client_order_id=uuid.uuid4().hex,
                exchange="binance",
                symbol=symbol,
                side=side,
                type="limit",
                price=D(price),
                amount=D(amount),
                filled=D(amount),
                status="filled",
                created_at=ts,
                updated_at=ts,
            )
        )
        await session.flush()
        session.add(
            Fill(
                ts=ts,
                order_id=order_id,
                bot_id=bot_id,
                trade_id=uuid.uuid4().hex,
                side=side,
                price=D(price),
                amount=D(amount),
                fee=D(fee),
                fee_currency=symbol.split("/")[1],
            )
        )


async def add_paper_account(
    db: Database,
    user_id: uuid.UUID,
    balances: dict[str, tuple[str, str]],
    *,
    replay_at: datetime | None,
    label: str = "paper",
) -> uuid.UUID:
    account_id = uuid.uuid4()
    replay = replay_at is not None
    async with db.session_scope() as session:
        session.add(
            PaperAccount(
                id=account_id,
                user_id=user_id,
                label=label,
                exchange="binance",
                maker_fee=D("0.001"),
                taker_fee=D("0.001"),
                slippage=D(0),
                price_source="replay" if replay else "live",
                timeframe="1m",
                replay_start=replay_at if replay else None,
                replay_speed=D(1) if replay else None,
                replay_anchor=replay_at if replay else None,
                matched_until=replay_at or datetime.now().astimezone(),
            )
        )
        await session.flush()
        for currency, (free, locked) in balances.items():
            session.add(
                PaperBalance(
                    account_id=account_id, currency=currency, free=D(free), locked=D(locked)
                )
            )
    return account_id


async def add_candle(db: Database, symbol: str, ts: datetime, close: str) -> None:
    price = D(close)
    async with db.session_scope() as session:
        session.add(
            Candle(
                exchange="binance",
                symbol=symbol,
                timeframe="1m",
                ts=ts,
                open=price,
                high=price,
                low=price,
                close=price,
                volume=D(1),
            )
        )


async def add_booked(
    db: Database, bot_id: uuid.UUID, user_id: uuid.UUID, day: Any, amount: str
) -> None:
    """A USDT bot's booking (its value in USDT is the amount itself)."""
    async with db.session_scope() as session:
        session.add(
            BotDay(
                bot_id=bot_id,
                day=day,
                user_id=user_id,
                quote="USDT",
                realized_pnl=D(amount),
                realized_usdt=D(amount),
                usdt_rate=D(1),
            )
        )


async def add_metric(
    db: Database, bot_id: uuid.UUID, ts: datetime, equity: str, unrealized: str
) -> None:
    async with db.session_scope() as session:
        session.add(
            BotMetric(
                bot_id=bot_id,
                ts=ts,
                equity=D(equity),
                realized_pnl=D(0),
                unrealized_pnl=D(unrealized),
                position=D(0),
                price=None,
            )
        )
