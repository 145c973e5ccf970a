"""State lives in the database: a restart loses nothing, and how often (or how far) the clock is
advanced never changes a single fill."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from autogrid.core.db import Database
from autogrid.exchanges.paper import PaperExchange
from autogrid.exchanges.types import ExchangeOrderStatus, ExchangeTrade, Side
from tests.exchanges.paper.helpers import (
    MINUTE,
    SYMBOL,
    D,
    Totals,
    WallClock,
    limit,
    market,
    minute_candles,
    new_replay_account,
    open_database,
    real_candles,
    replay_exchange,
    store_candles,
    totals,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def test_a_restart_loses_nothing_and_resting_orders_still_fill(database_url: str) -> None:
    bars = [("100", "101", "99", "100")] * 3 + [
        ("100", "100", "94", "96"),
        ("96", "97", "95", "97"),
    ]
    first = open_database(database_url)
    await store_candles(first, minute_candles(T0, bars))
    account = await new_replay_account(first, T0 + MINUTE, {"USDT": "1000", "BTC": "1"}, speed="60")
    wall = WallClock()
    paper = replay_exchange(first, account, wall)
    await paper.create_order(limit("buy", Side.BUY, "0.5", "95"))
    await paper.create_order(limit("sell", Side.SELL, "0.25", "120"))
    await paper.create_order(market("mkt", Side.BUY, "0.1", "100"))
    before = (await totals(paper), await paper.fetch_open_orders(SYMBOL))
    await first.dispose()

    # A new process: new engine, new exchange object, same account, same wall clock.
    second = open_database(database_url)
    try:
        revived = replay_exchange(second, account, WallClock(wall.now))
        assert (await totals(revived), await revived.fetch_open_orders(SYMBOL)) == before
        assert [o.client_order_id for o in before[1]] == ["buy", "sell", "mkt"]
        assert await revived.matched_until() == T0 + MINUTE
        revived_clock = WallClock(wall.now + 3 * SECOND)  # candles 1..3 have closed
        revived = replay_exchange(second, account, revived_clock)
        trades = await revived.advance()
        assert [(t.client_order_id, t.price, t.ts) for t in trades] == [
            ("mkt", D(100), T0 + 2 * MINUTE),  # the next candle's open
            ("buy", D(95), T0 + 4 * MINUTE),  # candle 3 is the first to reach 95
        ]
        sell = await revived.fetch_order(SYMBOL, client_order_id="sell")
        assert sell is not None and sell.status is ExchangeOrderStatus.OPEN
        # 1000 - 10 - 0.01 (taker) - 47.5 - 0.0475 (maker); 0.25 BTC locked for the sell
        assert await totals(revived) == {
            "USDT": Totals(D("942.4425"), D(0)),
            "BTC": Totals(D("1.35"), D("0.25")),
        }
    finally:
        await second.dispose()


def key(trade: ExchangeTrade) -> tuple[Any, ...]:
    return (
        trade.client_order_id,
        trade.side,
        trade.price,
        trade.amount,
        trade.fee,
        trade.ts,
        trade.is_maker,
    )


async def ladder(paper: PaperExchange, around: D) -> None:
    """Resting orders 0.1% apart on both sides, and a market buy waiting for the next open."""
    for step in range(1, 13):
        below = (around * (1 - D("0.001") * step)).quantize(D("0.01"))
        above = (around * (1 + D("0.001") * step)).quantize(D("0.01"))
        await paper.create_order(limit(f"b{step}", Side.BUY, "0.01", str(below)))
        await paper.create_order(limit(f"s{step}", Side.SELL, "0.01", str(above)))
    await paper.create_order(market("m", Side.BUY, "0.02", str(around)))


async def test_one_jump_equals_many_small_steps(db: Database) -> None:
    """Four accounts, the same orders: advanced in one jump, in small random steps with a new
    exchange object (a restart) each time, with explicit ``up_to`` stops, and in rounds of 7
    candles. Every resting order fills identically in all four."""
    candles = real_candles(400)
    await store_candles(db, candles)
    start = candles[0].ts + MINUTE
    balances = {"USDT": "20000", "BTC": "1"}
    accounts = [
        await new_replay_account(db, start, balances, speed="60", slippage="0.001")
        for _ in range(4)
    ]
    end_wall = WallClock().now + 399 * SECOND
    for account in accounts:
        await ladder(replay_exchange(db, account, WallClock()), candles[0].close)

    async def one_jump(account: uuid.UUID, **options: Any) -> list[ExchangeTrade]:
        return await replay_exchange(db, account, WallClock(end_wall), **options).advance()

    async def small_steps(account: uuid.UUID) -> list[ExchangeTrade]:
        rng, wall, trades = random.Random(7), WallClock(), []
        while wall.now < end_wall:
            wall.move(timedelta(milliseconds=rng.randint(1, 4000)))
            trades += await replay_exchange(db, account, wall).advance()
        return trades

    async def explicit_stops(account: uuid.UUID) -> list[ExchangeTrade]:
        paper, trades = replay_exchange(db, account, WallClock(end_wall)), []
        for minutes in (1, 2, 2, 37, 90, 91, 250, 399, 400):
            trades += await paper.advance(up_to=start + minutes * MINUTE + SECOND / 3)
        return trades

    runs = [
        await one_jump(accounts[0]),
        await small_steps(accounts[1]),
        await explicit_stops(accounts[2]),
        await one_jump(accounts[3], candles_per_round=7),
    ]
    assert len(runs[0]) >= 12  # the ladder is crossed both ways in these 400 minutes
    assert runs[0][0].client_order_id == "m" and runs[0][0].ts == start + MINUTE
    for other in runs[1:]:
        assert [key(t) for t in other] == [key(t) for t in runs[0]]
    finals = [await totals(replay_exchange(db, account, WallClock())) for account in accounts]
    assert finals[1:] == finals[:1] * 3
