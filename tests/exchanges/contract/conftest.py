"""The venues the connector contract runs on: one fixture per ``ExchangeConnector`` implementation.

A venue is a connector plus the one thing a test cannot ask the connector to do: move the market.
Adding an implementation to the whole suite is one fixture and one line in ``VENUES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

import pytest

from autogrid.core.db import Database
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.paper import PaperExchange, ReplayPriceSource
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import ConnectorMaker
from tests.exchanges.paper.helpers import WallClock, candle, new_replay_account, store_candles

# Both venues start here: the simulator's default account and prices.
START_BALANCES = {"USDT": Decimal(10_000), "BTC": Decimal(1), "ETH": Decimal(10)}
START_PRICES = {"BTC/USDT": Decimal(100_000), "ETH/USDT": Decimal(2_500)}


class Venue(Protocol):
    name: str

    @property
    def connector(self) -> ExchangeConnector:
        """Read-only, so a venue may hold a narrower connector (the paper venue's)."""
        ...

    async def trade_at(self, symbol: str, price: Decimal) -> None:
        """The market trades at ``price`` now: resting orders it reaches fill, and market
        orders waiting for the next price (the paper exchange's) fill at it."""
        ...


@dataclass
class SimulatorVenue:
    """``CcxtConnector`` through real ccxt against the Binance REST simulator."""

    connector: ExchangeConnector
    sim: BinanceSimulator
    name: str = "ccxt"

    async def trade_at(self, symbol: str, price: Decimal) -> None:
        self.sim.set_price(symbol, price)


@dataclass
class PaperVenue:
    """``PaperExchange`` replaying candles: each new price is a one-minute candle from the last
    price to it, replayed by moving the wall clock one second at speed 60."""

    connector: PaperExchange
    database: Database
    wall: WallClock
    next_open: datetime
    prices: dict[str, Decimal] = field(default_factory=lambda: dict(START_PRICES))
    name: str = "paper"

    async def trade_at(self, symbol: str, price: Decimal) -> None:
        last = self.prices[symbol]
        bar = candle(
            self.next_open, str(last), str(max(last, price)), str(min(last, price)), str(price)
        )
        await store_candles(self.database, [bar], symbol=symbol)
        self.prices[symbol] = price
        self.next_open += timedelta(minutes=1)
        self.wall.move(timedelta(seconds=1))
        await self.connector.advance()


@pytest.fixture
def ccxt_venue(sim: BinanceSimulator, make_connector: ConnectorMaker) -> Venue:
    return SimulatorVenue(make_connector(), sim)


@pytest.fixture
async def paper_venue(db: Database) -> Venue:
    history = datetime(2025, 1, 1, tzinfo=UTC)
    for symbol, price in START_PRICES.items():
        flat = str(price)
        await store_candles(db, [candle(history, flat, flat, flat, flat)], symbol=symbol)
    start = history + timedelta(minutes=1)
    balances = {currency: str(amount) for currency, amount in START_BALANCES.items()}
    account = await new_replay_account(db, start, balances, speed="60")
    wall = WallClock()
    # No rules given and no network: the built-in table of Binance's real filters.
    paper = PaperExchange(db, account, ReplayPriceSource(db, "binance"), clock=wall)
    return PaperVenue(paper, db, wall, next_open=start)


VENUES = {"ccxt": "ccxt_venue", "paper": "paper_venue"}


@pytest.fixture(params=list(VENUES))
def venue(request: pytest.FixtureRequest) -> Venue:
    built: Venue = request.getfixturevalue(VENUES[request.param])
    return built
