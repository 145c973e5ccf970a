"""The live price source: a real exchange's public data (the Binance simulator, through real
ccxt), matched minute by minute so no crossing between two looks is missed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from autogrid.core.db import Database
from autogrid.exchanges import errors
from autogrid.exchanges.paper import (
    LivePriceSource,
    PaperExchange,
    PriceSourceKind,
    create_paper_account,
)
from autogrid.exchanges.types import ExchangeOrderStatus, Fee, Side
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import ConnectorMaker
from tests.exchanges.paper.helpers import (
    MINUTE,
    SYMBOL,
    D,
    Totals,
    WallClock,
    limit,
    market,
    totals,
)

NOON = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PLACED = NOON + timedelta(seconds=30)
BARS = [  # minute candles from noon
    ("100000", "100100", "98000", "99900"),  # before the order: its dip must not count
    ("99900", "99950", "99500", "99800"),
    ("99800", "99850", "98900", "99500"),  # reaches 99,000
    ("99500", "99600", "99400", "99550"),
]


async def live_paper(
    db: Database, sim: BinanceSimulator, make_connector: ConnectorMaker, wall: WallClock
) -> PaperExchange:
    start_ms = int(NOON.timestamp() * 1000)
    sim.set_candles(
        SYMBOL, "1m", [[start_ms + i * 60_000, *bar, "3"] for i, bar in enumerate(BARS)]
    )
    async with db.session_scope() as session:
        account = await create_paper_account(
            session,
            label="live",
            exchange="binance",
            balances={"USDT": "10000"},
            price_source=PriceSourceKind.LIVE,
            now=wall.now,
        )
    source = LivePriceSource(make_connector(None))  # public data only: no key
    return PaperExchange(db, account.id, source, clock=wall)


@pytest.fixture
def wall() -> WallClock:
    return WallClock(PLACED)


async def test_market_orders_fill_at_once_at_the_ticker(
    db: Database, sim: BinanceSimulator, make_connector: ConnectorMaker, wall: WallClock
) -> None:
    paper = await live_paper(db, sim, make_connector, wall)
    rules = await paper.market(SYMBOL)  # the exchange's own rules, with the account's fees
    assert (rules.price_tick, rules.min_cost, rules.maker_fee) == (D("0.01"), D(5), D("0.001"))
    with pytest.raises(errors.OrderRejected, match="no spot market"):
        await paper.market("DOGE/USDT")  # the exchange lists no such market
    sim.set_price(SYMBOL, "100000")
    order = await paper.create_order(market("m1", Side.BUY, "0.01", "100000", rules))
    assert order.status is ExchangeOrderStatus.CLOSED
    assert order.average_price == D("100000.01")  # the simulator's ask: one tick above
    [trade] = await paper.fetch_my_trades(SYMBOL)
    assert (trade.price, trade.is_maker, trade.ts) == (D("100000.01"), False, PLACED)
    assert trade.fee == Fee(D("1.0000001"), "USDT")
    assert await totals(paper) == {
        "USDT": Totals(D("10000") - D("1000.0001") - D("1.0000001"), D(0)),
        "BTC": Totals(D("0.01"), D(0)),
    }
    assert (await paper.fetch_ticker(SYMBOL)).last == D("100000")


async def test_limit_orders_fill_on_the_minutes_after_they_were_placed(
    db: Database, sim: BinanceSimulator, make_connector: ConnectorMaker, wall: WallClock
) -> None:
    paper = await live_paper(db, sim, make_connector, wall)
    await paper.create_order(limit("l1", Side.BUY, "0.01", "99000"))
    wall.now = NOON + 2 * MINUTE + timedelta(seconds=30)
    assert await paper.advance() == []  # the noon dip was before the order; 12:02 is not over
    # the exchange fails while we look: nothing moves, nothing is skipped
    sim.inject_fault("http_error", "GET /api/v3/klines", times=10, status=503)
    wall.now = NOON + 5 * MINUTE
    with pytest.raises(errors.TemporaryExchangeError):
        await paper.advance()
    assert await paper.matched_until() == NOON + 2 * MINUTE + timedelta(seconds=25)
    sim.clear_faults()
    [trade] = await paper.advance()
    assert (trade.client_order_id, trade.price, trade.is_maker) == ("l1", D(99000), True)
    assert trade.ts == NOON + 3 * MINUTE  # the close of the minute that reached it
    assert await paper.matched_until() == NOON + 5 * MINUTE - timedelta(seconds=5)
    assert await paper.next_candle_close(SYMBOL) == NOON + 5 * MINUTE


async def test_rules_fall_back_to_the_builtin_table_when_the_exchange_is_unreachable(
    db: Database, sim: BinanceSimulator, make_connector: ConnectorMaker, wall: WallClock
) -> None:
    paper = await live_paper(db, sim, make_connector, wall)
    sim.inject_fault("http_error", "GET /api/v3/exchangeInfo", times=None, status=503)
    markets = await paper.load_markets()
    assert markets["XRP/USDT"].amount_step == D("0.1")  # only the built-in table has XRP
    generic = await paper.market("DOGE/USDT")  # not in the table either: a generic default
    assert (generic.amount_step, generic.min_cost) == (D("0.00000001"), D(10))


async def test_an_exchange_mismatch_is_refused(
    db: Database, sim: BinanceSimulator, make_connector: ConnectorMaker, wall: WallClock
) -> None:
    paper = await live_paper(db, sim, make_connector, wall)
    source = LivePriceSource(make_connector(None))
    source.exchange_id = "kraken"
    with pytest.raises(errors.FatalExchangeError, match="binance"):
        await PaperExchange(db, paper.account_id, source).fetch_balance()
    with pytest.raises(errors.FatalExchangeError, match="does not exist"):
        await PaperExchange(db, uuid.uuid4(), LivePriceSource(make_connector(None))).fetch_order(
            SYMBOL, client_order_id="x"
        )
