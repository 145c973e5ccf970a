"""Building blocks for paper exchange tests: a wall clock the test moves, candles, accounts."""

from __future__ import annotations

import csv
import gzip
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.exchanges.paper import (
    PaperExchange,
    PriceSourceKind,
    ReplayPriceSource,
    create_paper_account,
)
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import CandleData, MarketRules, OrderRequest, OrderType, Side
from autogrid.market_data.candle_upserts import upsert_candles
from autogrid.market_data.timeframes import ms_to_datetime
from tests.shared_data import shared_file

D = Decimal
MINUTE = timedelta(minutes=1)
EXCHANGE = "binance"
SYMBOL = "BTC/USDT"
# A market like the real BTC/USDT, but with a small minimum so hand-computed orders stay short.
MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
ANCHOR = datetime(2030, 1, 1, tzinfo=UTC)  # wall time when replays start


def open_database(url: str) -> Database:
    return Database.from_settings(Settings(database_url=url))


class WallClock:
    """The wall clock the exchange sees; tests move it."""

    def __init__(self, now: datetime = ANCHOR) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, delta: timedelta) -> None:
        self.now += delta


def candle(ts: datetime, o: str, h: str, low: str, c: str, volume: str = "1") -> CandleData:
    return CandleData(ts, D(o), D(h), D(low), D(c), D(volume))


def minute_candles(start: datetime, bars: Sequence[tuple[str, str, str, str]]) -> list[CandleData]:
    return [candle(start + i * MINUTE, *bar) for i, bar in enumerate(bars)]


def real_candles(limit: int, name: str = "binance_BTC_USDT-1m.csv.gz") -> list[CandleData]:
    """The first ``limit`` rows of a real candle file, with the file's exact decimals."""
    with gzip.open(shared_file(name), "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [next(reader) for _ in range(limit)]
    return [
        CandleData(ms_to_datetime(int(ts)), D(o), D(h), D(low), D(c), D(v))
        for ts, o, h, low, c, v in rows
    ]


def replay_paper(first: CandleData, speed: int, usdt: str = "20000") -> dict[str, Any]:
    """A paper bot's settings replaying 1m candles from ``first``'s close (decisions at candle
    closes), ``speed`` times as fast as they happened, on ``usdt`` USDT."""
    return {
        "price_source": "replay",
        "timeframe": "1m",
        "start": (first.ts + MINUTE).isoformat(),
        "speed": speed,
        "balances": {"USDT": usdt},
    }


async def store_candles(
    database: Database,
    candles: Sequence[CandleData],
    symbol: str = SYMBOL,
    timeframe: str = "1m",
    exchange: str = EXCHANGE,
) -> None:
    async with database.session_scope() as session:
        await upsert_candles(session, exchange, symbol, timeframe, candles)


async def new_replay_account(
    database: Database,
    start: datetime,
    balances: Mapping[str, str],
    *,
    speed: str = "1",
    timeframe: str = "1m",
    maker_fee: str = "0.001",
    taker_fee: str = "0.001",
    slippage: str = "0",
    anchor: datetime = ANCHOR,
) -> uuid.UUID:
    async with database.session_scope() as session:
        account = await create_paper_account(
            session,
            label="test",
            exchange=EXCHANGE,
            balances=balances,
            price_source=PriceSourceKind.REPLAY,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            slippage=slippage,
            timeframe=timeframe,
            replay_start=start,
            replay_speed=speed,
            now=anchor,
        )
        return account.id


def replay_exchange(
    database: Database,
    account_id: uuid.UUID,
    clock: WallClock,
    market_rules: Mapping[str, MarketRules] | None = None,
    **kwargs: object,
) -> PaperExchange:
    source = ReplayPriceSource(database, EXCHANGE)
    rules = {MARKET.symbol: MARKET} if market_rules is None else market_rules
    return PaperExchange(database, account_id, source, rules, clock=clock, **kwargs)  # type: ignore[arg-type]


def limit(
    cid: str, side: Side, amount: str, price: str, rules: MarketRules = MARKET
) -> OrderRequest:
    return prepare_order(rules, side, OrderType.LIMIT, D(amount), D(price), cid)


def market(
    cid: str, side: Side, amount: str, reference: str, rules: MarketRules = MARKET
) -> OrderRequest:
    return prepare_order(
        rules, side, OrderType.MARKET, D(amount), None, cid, reference_price=D(reference)
    )


@dataclass(frozen=True)
class Totals:
    free: Decimal
    used: Decimal


async def totals(exchange: PaperExchange) -> dict[str, Totals]:
    return {c: Totals(b.free, b.used) for c, b in (await exchange.fetch_balance()).items()}
