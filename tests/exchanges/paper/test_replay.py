"""Replayed candles fill limit and market orders at hand-computed prices, fees and balances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autogrid.core.db import Database
from autogrid.exchanges import errors
from autogrid.exchanges.paper.exchange import PaperExchange
from autogrid.exchanges.paper.sources import ReplayPriceSource
from autogrid.exchanges.types import CandleData, ExchangeOrderStatus, Fee, OrderType, Side
from tests.exchanges.paper.helpers import (
    EXCHANGE,
    MARKET,
    MINUTE,
    SYMBOL,
    D,
    Totals,
    WallClock,
    limit,
    market,
    minute_candles,
    new_replay_account,
    real_candles,
    replay_exchange,
    store_candles,
    totals,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def test_limit_then_market_by_hand(database: Database, wall: WallClock) -> None:
    """The backtest engine's own hand-computed example, played through the paper exchange."""
    bars = [("100", "101", "99", "100"), ("100", "100", "94", "96"), ("96", "97", "95", "97")]
    await store_candles(database, minute_candles(T0, [*bars, ("98", "99", "97", "98")]))
    # Starts at candle 0's close; at speed 60 each wall second closes one more minute candle.
    account = await new_replay_account(
        database,
        T0 + MINUTE,
        {"USDT": "1000"},
        speed="60",
        taker_fee="0.002",
        slippage="0.01",
    )
    paper = replay_exchange(database, account, wall)
    assert (await paper.fetch_ticker(SYMBOL)).last == D(100)

    buy = await paper.create_order(limit("buy-1", Side.BUY, "0.5", "95"))
    assert (buy.status, buy.filled, buy.ts) == (ExchangeOrderStatus.OPEN, D(0), T0 + MINUTE)
    # the lock holds the maker fee too: 0.5 x 95 x 1.001
    assert (await totals(paper))["USDT"] == Totals(D("952.4525"), D("47.5475"))

    assert await paper.advance() == []  # the wall clock has not moved: nothing new closed
    wall.move(SECOND)
    [fill] = await paper.advance()
    assert (fill.client_order_id, fill.side, fill.price, fill.amount) == (
        "buy-1",
        Side.BUY,
        D(95),
        D("0.5"),
    )
    assert (fill.fee, fill.is_maker, fill.ts) == (Fee(D("0.0475"), "USDT"), True, T0 + 2 * MINUTE)
    assert await totals(paper) == {
        "USDT": Totals(D("952.4525"), D(0)),  # 1000 - 47.5 - 0.0475
        "BTC": Totals(D("0.5"), D(0)),
    }
    filled = await paper.fetch_order(SYMBOL, client_order_id="buy-1")
    assert filled is not None and filled.status is ExchangeOrderStatus.CLOSED
    assert (filled.filled, filled.average_price, filled.fee) == (D("0.5"), D(95), fill.fee)

    wall.move(SECOND)
    assert await paper.advance() == []
    assert (await paper.fetch_ticker(SYMBOL)).last == D(97)
    sell = await paper.create_order(market("sell-1", Side.SELL, "0.5", "97"))
    # A market order fills at the next candle's open, like the backtest: it waits until then.
    assert sell.status is ExchangeOrderStatus.OPEN and sell.type is OrderType.MARKET
    assert (await totals(paper))["BTC"] == Totals(D(0), D("0.5"))
    wall.move(SECOND)
    [fill] = await paper.advance()
    assert fill.fee is not None
    # open 98 less 1% slippage; taker 0.2% of 48.51
    assert (fill.price, fill.fee.cost, fill.is_maker) == (D("97.02"), D("0.09702"), False)
    assert await totals(paper) == {"USDT": Totals(D("1000.86548"), D(0))}
    assert [t.client_order_id for t in await paper.fetch_my_trades(SYMBOL)] == ["buy-1", "sell-1"]
    assert await paper.fetch_my_trades(SYMBOL, since=T0 + 3 * MINUTE) == [fill]
    assert await paper.fetch_my_trades(SYMBOL, limit=1) == [fill]  # the latest, like Binance
    [first] = await paper.fetch_my_trades(SYMBOL, since=T0, limit=1)
    assert first.client_order_id == "buy-1"


async def test_candles_are_never_seen_before_they_close(
    database: Database, wall: WallClock
) -> None:
    await store_candles(database, minute_candles(T0, [("10", "11", "9", "10")] * 10))
    account = await new_replay_account(database, T0 + 3 * MINUTE, {"USDT": "100"}, speed="60")
    paper = replay_exchange(database, account, wall)
    assert [c.ts for c in await paper.fetch_ohlcv(SYMBOL, "1m")] == [
        T0,
        T0 + MINUTE,
        T0 + 2 * MINUTE,
    ]
    assert await paper.next_candle_close(SYMBOL) == T0 + 4 * MINUTE
    assert await paper.visible_candle_closes(SYMBOL) == []
    # asking beyond the replay clock goes no further than it
    await paper.advance(up_to=T0 + 9 * MINUTE)
    assert await paper.matched_until() == T0 + 3 * MINUTE
    wall.move(2.5 * SECOND)  # replay time T0 + 5.5 minutes
    assert await paper.market_time() == T0 + timedelta(minutes=5.5)
    assert await paper.visible_candle_closes(SYMBOL) == [T0 + 4 * MINUTE, T0 + 5 * MINUTE]
    assert await paper.wall_time_of(T0 + 6 * MINUTE) == wall.now + 0.5 * SECOND
    await paper.advance(up_to=T0 + 4 * MINUTE)
    assert len(await paper.fetch_ohlcv(SYMBOL, "1m")) == 4
    since = await paper.fetch_ohlcv(SYMBOL, "1m", since=T0 + 2 * MINUTE, limit=1)
    assert [c.ts for c in since] == [T0 + 2 * MINUTE]
    wall.move(timedelta(minutes=1))  # an hour of replay: past the last stored candle
    await paper.advance()
    assert await paper.matched_until() == T0 + timedelta(minutes=3 + 2.5 + 60)
    assert await paper.next_candle_close(SYMBOL) is None  # the stored candles have ended


async def test_orders_rest_from_the_next_candle(database: Database, wall: WallClock) -> None:
    """A limit buy above the price fills at the next open (as maker, like the backtest), never
    against the candle already closed when it was placed."""
    bars = [("100", "100", "80", "90"), ("95", "96", "94", "95")]
    await store_candles(database, minute_candles(T0, bars))
    account = await new_replay_account(database, T0 + MINUTE, {"USDT": "1000"}, speed="60")
    paper = replay_exchange(database, account, wall)
    await paper.create_order(limit("b", Side.BUY, "1", "99"))
    wall.move(SECOND)
    [fill] = await paper.advance()
    assert (fill.price, fill.is_maker, fill.ts) == (D(95), True, T0 + 2 * MINUTE)


async def test_exchange_like_refusals(database: Database, wall: WallClock) -> None:
    await store_candles(database, minute_candles(T0, [("100", "101", "99", "100")]))
    account = await new_replay_account(database, T0 + MINUTE, {"USDT": "1000"})
    paper = replay_exchange(database, account, wall)
    with pytest.raises(errors.InsufficientFunds):
        await paper.create_order(limit("big", Side.BUY, "10", "100"))  # 1000 + the fee
    with pytest.raises(errors.InsufficientFunds):
        await paper.create_order(limit("nothing", Side.SELL, "1", "100"))
    from autogrid.exchanges.types import OrderRequest

    no_price = OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, D("0.1"), None, "x1")
    bad_id = OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, D("0.1"), D("99"), "not allowed")
    tiny = OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, D("0.01"), D("99"), "x3")  # 0.99 < 5
    for request in (no_price, bad_id, tiny):
        with pytest.raises(errors.OrderRejected) as refused:
            await paper.create_order(request)
        assert not isinstance(refused.value, errors.InsufficientFunds)
    assert await paper.fetch_open_orders() == []
    assert (await totals(paper))["USDT"] == Totals(D(1000), D(0))


async def test_client_ids_are_unique_among_open_orders_only(
    database: Database, wall: WallClock
) -> None:
    await store_candles(database, minute_candles(T0, [("100", "101", "99", "100")]))
    account = await new_replay_account(database, T0 + MINUTE, {"USDT": "1000"})
    paper = replay_exchange(database, account, wall)
    first = await paper.create_order(limit("same", Side.BUY, "0.1", "90"))
    with pytest.raises(errors.DuplicateClientOrderId):
        await paper.create_order(limit("same", Side.BUY, "0.2", "80"))
    canceled = await paper.cancel_order(SYMBOL, client_order_id="same")
    assert canceled is not None and canceled.status is ExchangeOrderStatus.CANCELED
    assert await paper.cancel_order(SYMBOL, client_order_id="same") is None
    assert await paper.cancel_order(SYMBOL, exchange_order_id=first.exchange_order_id) is None
    # Binance accepts the id again once the first order is closed; by client id, the newest wins
    second = await paper.create_order(limit("same", Side.BUY, "0.2", "80"))
    found = await paper.fetch_order(SYMBOL, client_order_id="same")
    assert found is not None and found.exchange_order_id == second.exchange_order_id
    old = await paper.fetch_order(SYMBOL, exchange_order_id=first.exchange_order_id)
    assert old is not None and old.status is ExchangeOrderStatus.CANCELED
    assert await paper.fetch_order(SYMBOL, client_order_id="never") is None
    assert await paper.fetch_order("ETH/USDT", exchange_order_id=second.exchange_order_id) is None
    with pytest.raises(ValueError):
        await paper.fetch_order(SYMBOL)


async def test_real_candles_fill_at_the_prices_the_path_reaches(db: Database) -> None:
    """On real BTC/USDT minutes: each resting order fills on the first candle whose range
    reaches it, at its own price (or at the open when the candle gaps past it)."""
    candles = real_candles(600)
    await store_candles(db, candles)
    wall = WallClock()
    start = candles[0].ts + MINUTE
    account = await new_replay_account(db, start, {"USDT": "10000", "BTC": "0.1"}, speed="60")
    paper = replay_exchange(db, account, wall)
    price = candles[0].close
    orders = {
        "buy-1": (Side.BUY, (price * D("0.995")).quantize(D("0.01"))),
        "buy-2": (Side.BUY, (price * D("0.994")).quantize(D("0.01"))),
        "sell-1": (Side.SELL, (price * D("1.004")).quantize(D("0.01"))),
    }
    never = (price * D("0.98")).quantize(D("0.01"))  # 2% down: this slice never gets there
    for cid, (side, at) in orders.items():
        await paper.create_order(limit(cid, side, "0.01", str(at)))
    await paper.create_order(limit("buy-never", Side.BUY, "0.01", str(never)))
    wall.move(599 * SECOND)
    trades = {t.client_order_id: t for t in await paper.advance()}
    assert trades.keys() == orders.keys()
    for cid, (side, at) in orders.items():
        # the expectation, scanned by hand over the candles
        hit = next(c for c in candles[1:] if (c.low <= at if side is Side.BUY else c.high >= at))
        expected = min(hit.open, at) if side is Side.BUY else max(hit.open, at)
        trade = trades[cid]
        assert (trade.price, trade.ts, trade.is_maker) == (expected, hit.ts + MINUTE, True)
        assert trade.fee == Fee(expected * D("0.01") * D("0.001"), "USDT")
    spent = sum(t.price * t.amount * (1 if t.side is Side.BUY else -1) for t in trades.values())
    fees = sum(t.fee.cost for t in trades.values() if t.fee)
    still_locked = never * D("0.01") * D("1.001")
    assert await totals(paper) == {
        "USDT": Totals(D(10000) - spent - fees - still_locked, still_locked),
        "BTC": Totals(D("0.1") + D("0.01"), D(0)),
    }
    assert [o.client_order_id for o in await paper.fetch_open_orders(SYMBOL)] == ["buy-never"]


async def test_the_index_backs_up_the_duplicate_check(
    database: Database, wall: WallClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were two creates to race past the check, the partial unique index refuses the second."""
    from autogrid.exchanges.paper import repository

    async def never_in_use(*args: object) -> bool:
        return False

    monkeypatch.setattr(repository, "client_id_in_use", never_in_use)
    account = await new_replay_account(database, T0 + MINUTE, {"USDT": "1000"})
    paper = replay_exchange(database, account, wall)
    await paper.create_order(limit("twin", Side.BUY, "0.1", "90"))
    with pytest.raises(errors.DuplicateClientOrderId):
        await paper.create_order(limit("twin", Side.BUY, "0.1", "80"))
    assert len(await paper.fetch_open_orders()) == 1
    assert (await totals(paper))["USDT"].used == D("9.009")  # the refused one locked nothing
    await paper.cancel_order(SYMBOL, client_order_id="twin")
    await paper.create_order(limit("twin", Side.BUY, "0.1", "80"))  # only OPEN ids are unique


class CountingSource(ReplayPriceSource):
    """The real replay source, counting its candle queries."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, EXCHANGE)
        self.queries = 0

    async def closed_candles(self, *args: Any, **kwargs: Any) -> list[CandleData]:
        if kwargs.get("session") is None:
            self.queries += 1
        return await super().closed_candles(*args, **kwargs)


async def test_a_quiet_replay_asks_for_its_next_candle_once_per_candle(
    database: Database, wall: WallClock
) -> None:
    await store_candles(database, minute_candles(T0, [("10", "11", "9", "10")] * 6))
    account = await new_replay_account(database, T0 + 3 * MINUTE, {"USDT": "100"}, speed="60")
    source = CountingSource(database)
    paper = PaperExchange(database, account, source, {MARKET.symbol: MARKET}, clock=wall)
    for _ in range(5):  # quiet ticks before the next candle closes
        assert await paper.replay_has_more(SYMBOL)
    assert source.queries == 1
    wall.move(1.5 * SECOND)  # replay time T0 + 4.5 minutes: the candle closing at T0 + 4 is out
    await paper.advance()
    assert await paper.replay_has_more(SYMBOL)
    assert source.queries == 2
    wall.move(timedelta(minutes=1))  # an hour of replay: past the last stored candle
    await paper.advance()
    assert not await paper.replay_has_more(SYMBOL)
    assert not await paper.replay_has_more(SYMBOL)  # the end is never cached as "more"
