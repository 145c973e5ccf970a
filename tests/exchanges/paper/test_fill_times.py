"""A replayed candle's fills settle at its close (``ts``, as the backtest engine stamps them, the
time every trade lookup keys on) and are executed at its open (``executed_at``, when the price
was there): market fills and limit fills reached inside the candle alike, two in one candle too,
as ``advance`` returns them and as the stored trades answer later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autogrid.core.db import Database
from autogrid.exchanges.types import ExchangeTrade, Side
from tests.exchanges.paper.helpers import (
    MINUTE,
    SYMBOL,
    D,
    WallClock,
    limit,
    market,
    minute_candles,
    new_replay_account,
    replay_exchange,
    store_candles,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
BARS = [
    ("100", "101", "99", "100"),
    ("100", "100", "94", "96"),  # reaches both buys: at 99 and at 95, inside the candle
    ("96", "97", "95", "97"),  # the market sell pays this open
    ("98", "99", "97", "98"),
]


def times(trade: ExchangeTrade) -> tuple[str | None, D, datetime | None, datetime]:
    return trade.client_order_id, trade.price, trade.executed_at, trade.ts


async def test_fills_are_executed_at_their_candles_open_and_settle_at_its_close(
    database: Database, wall: WallClock
) -> None:
    await store_candles(database, minute_candles(T0, BARS))
    account = await new_replay_account(database, T0 + MINUTE, {"USDT": "1000"}, speed="60")
    paper = replay_exchange(database, account, wall)
    await paper.create_order(limit("buy-99", Side.BUY, "0.1", "99"))
    await paper.create_order(limit("buy-95", Side.BUY, "0.1", "95"))

    wall.move(SECOND)  # candle 1 (opens T0+1m, closes T0+2m) is revealed and matched
    both = await paper.advance()

    candle_1_open, candle_1_close = T0 + MINUTE, T0 + 2 * MINUTE
    assert [times(trade) for trade in both] == [
        ("buy-99", D(99), candle_1_open, candle_1_close),
        ("buy-95", D(95), candle_1_open, candle_1_close),
    ]
    assert len({trade.trade_id for trade in both}) == 2

    await paper.create_order(market("sell", Side.SELL, "0.2", "96"))
    wall.move(SECOND)
    [sold] = await paper.advance()
    assert times(sold) == ("sell", D(96), T0 + 2 * MINUTE, T0 + 3 * MINUTE)

    # Asked again later (a bot recovering after a crash), the stored trades say the same.
    for trade in [*both, sold]:
        [stored] = await paper.fetch_order_trades(SYMBOL, trade.exchange_order_id) or []
        assert stored == trade
    # A history scan from a cursor at the candle's close (its settle time) still finds both:
    # the times the trade lookups use did not move.
    found = await paper.fetch_my_trades(SYMBOL, since=candle_1_close)
    assert {trade.trade_id for trade in found} == {trade.trade_id for trade in [*both, sold]}
