"""Where a paper account's market rules come from: the caller, the exchange, the built-in table
of real Binance filters, or a generic default; and always with the account's own fees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autogrid.core.db import Database
from autogrid.exchanges import errors
from autogrid.exchanges.paper import BINANCE_SPOT_RULES, PaperExchange, ReplayPriceSource
from autogrid.exchanges.types import OrderRequest, OrderType, Side
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import ConnectorMaker
from tests.exchanges.paper.helpers import D, WallClock, new_replay_account

START = datetime(2025, 1, 1, 0, 1, tzinfo=UTC)


async def test_offline_replay_uses_the_builtin_binance_filters(db: Database) -> None:
    account = await new_replay_account(
        db, START, {"USDT": "100"}, maker_fee="0.00075", taker_fee="0.00075"
    )
    paper = PaperExchange(db, account, ReplayPriceSource(db, "binance"), clock=WallClock())
    markets = await paper.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "ETH/BTC", "BNB/USDT", "SOL/USDT", "XRP/USDT"}
    btc = markets["BTC/USDT"]
    assert (btc.price_tick, btc.amount_step, btc.min_amount, btc.min_cost) == (
        D("0.01"),
        D("0.00001"),
        D("0.00001"),
        D(5),
    )
    assert (btc.maker_fee, btc.taker_fee) == (D("0.00075"), D("0.00075"))  # the account's
    assert BINANCE_SPOT_RULES["BTC/USDT"].maker_fee == D("0.001")
    # the exchange's filters refuse what Binance would: 0.0001 x 40,000 = 4 < 5 USDT
    with pytest.raises(errors.OrderRejected, match="minimum order value"):
        await paper.create_order(
            OrderRequest("BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.0001"), D(40000), "tiny")
        )
    doge = await paper.market("DOGE/USDT")  # unknown here: a conservative default
    assert (doge.min_cost, doge.maker_fee) == (D(10), D("0.00075"))
    assert (await paper.market("DOGE/BTC")).min_cost == 0
    with pytest.raises(errors.OrderRejected, match="BASE/QUOTE"):
        await paper.market("DOGEUSDT")


async def test_replay_takes_the_exchange_rules_when_it_can_reach_them(
    db: Database, sim: BinanceSimulator, make_connector: ConnectorMaker
) -> None:
    account = await new_replay_account(db, START, {"USDT": "100"})
    source = ReplayPriceSource(db, "binance", rules_from=make_connector(None))
    paper = PaperExchange(db, account, source, clock=WallClock())
    assert set(await paper.load_markets()) == {"BTC/USDT", "ETH/USDT"}  # the simulator's
    with pytest.raises(errors.OrderRejected, match="no spot market"):
        await paper.market("SOL/USDT")
