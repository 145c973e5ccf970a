"""The decisive check: a grid bot stepped through the paper exchange candle by candle trades
exactly like ``run_backtest`` over the same real candles (prices, amounts, fees, order, candle).

The loop below is what a bot runtime does with a replay account: at each candle close, advance
the exchange to it, turn its trades into strategy fills, decide, then place and cancel through
the connector interface, reading prices, balances and open orders back from the exchange.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autogrid.backtest.engine import BacktestSettings, TradeRecord, run_backtest
from autogrid.core.db import Database
from autogrid.exchanges import errors
from autogrid.exchanges.paper import PaperExchange
from autogrid.exchanges.types import ExchangeTrade, OrderRequest
from autogrid.market_data.repository import load_arrays
from autogrid.trading.candles import CandleArrays
from autogrid.trading.strategies.base import (
    CancelOrder,
    Decision,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StopBot,
    Strategy,
    StrategyFill,
)
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, GridConfig
from tests.exchanges.paper.helpers import (
    EXCHANGE,
    MARKET,
    MINUTE,
    SYMBOL,
    D,
    WallClock,
    new_replay_account,
    real_candles,
    replay_exchange,
    store_candles,
)

CANDLES = 800  # ~35 fills; every candle costs a few database round trips
FEE = D("0.001")  # maker and taker alike
SLIPPAGE = D("0.0005")


class PaperBot:
    """A minimal runtime: strategy tags <-> client order ids, everything else asked of the
    exchange."""

    def __init__(self, paper: PaperExchange, strategy: Strategy[Any]) -> None:
        self.paper = paper
        self.strategy = strategy
        self.tag_of: dict[str, str] = {}
        self.cid_of: dict[str, str] = {}
        self.placed = 0

    async def snapshot(self, now: datetime) -> Snapshot:
        balances = await self.paper.fetch_balance()
        ticker = await self.paper.fetch_ticker(SYMBOL)
        assert ticker.ts == now  # the price is the close of the candle just matched
        open_orders = tuple(
            RestingOrder(self.tag_of[o.client_order_id or ""], o.side, o.type, o.price, o.amount)
            for o in await self.paper.fetch_open_orders(SYMBOL)
        )
        zero = D(0)
        return Snapshot(
            now=now,
            market=MARKET,
            price=ticker.last,
            open_orders=open_orders,
            free_base=balances["BTC"].free if "BTC" in balances else zero,
            free_quote=balances["USDT"].free if "USDT" in balances else zero,
        )

    def fills(self, trades: list[ExchangeTrade]) -> list[StrategyFill]:
        return [
            StrategyFill(
                self.tag_of[t.client_order_id or ""],
                t.side,
                t.price,
                t.amount,
                t.fee.cost if t.fee else D(0),
                D(0),
                t.ts,
                True,  # the paper exchange fills an order completely
            )
            for t in trades
        ]

    async def act(self, decision: Decision[Any]) -> None:
        for action in decision.actions:
            if isinstance(action, PlaceOrder):
                self.placed += 1
                cid = f"grid-{self.placed}"
                request = OrderRequest(
                    SYMBOL, action.side, action.type, action.amount, action.price, cid
                )
                try:
                    await self.paper.create_order(request)
                except errors.InsufficientFunds:
                    continue  # refused: the strategy sees the order vanish, as in the backtest
                self.tag_of[cid], self.cid_of[action.tag] = action.tag, cid
            elif isinstance(action, CancelOrder):
                await self.paper.cancel_order(SYMBOL, client_order_id=self.cid_of[action.tag])
            elif isinstance(action, StopBot):
                raise AssertionError("this grid has no stop condition")

    async def run(self, closes: list[datetime]) -> tuple[list[ExchangeTrade], Any]:
        trades: list[ExchangeTrade] = []
        snapshot = await self.snapshot(closes[0])
        state = self.strategy.initial_state(snapshot)
        decision = self.strategy.decide(snapshot, state, [])
        await self.act(decision)
        for close in closes[1:]:
            new_trades = await self.paper.advance(up_to=close)
            trades += new_trades
            decision = self.strategy.decide(
                await self.snapshot(close), decision.state, self.fills(new_trades)
            )
            await self.act(decision)
        return trades, decision.state


def as_records(trades: list[ExchangeTrade], tag_of: dict[str, str], start: datetime) -> list[Any]:
    """The backtest's TradeRecord for each paper trade (candle index from the fill time)."""
    return [
        TradeRecord(
            (t.ts - start) // MINUTE - 1,
            t.ts,
            tag_of[t.client_order_id or ""],
            t.side,
            t.price,
            t.amount,
            t.fee.cost if t.fee else D(0),
            bool(t.is_maker),
        )
        for t in trades
    ]


async def test_grid_through_the_paper_exchange_equals_the_backtest(db: Database) -> None:
    candles = real_candles(CANDLES)
    await store_candles(db, candles)
    config = GridConfig(
        D(104_400), D(106_200), 8, investment=D(10_000), direction=Direction.NEUTRAL
    )
    strategy = GridStrategy(config, MARKET)

    async with db.session_scope() as session:
        stored = await load_arrays(session, EXCHANGE, SYMBOL, "1m")
    arrays = CandleArrays(
        stored.ts_ms, stored.open, stored.high, stored.low, stored.close, stored.volume
    )
    assert len(arrays) == CANDLES
    settings = BacktestSettings(MARKET, D(20_000), maker_fee=FEE, taker_fee=FEE, slippage=SLIPPAGE)
    expected = run_backtest(strategy, arrays, settings)
    assert len(expected.fills) > 30  # the slice crosses the grid many times
    assert any(not fill.is_maker for fill in expected.fills)  # the neutral start's market buy

    wall = WallClock()
    start = candles[0].ts + MINUTE
    # At speed 600 the whole slice is visible after 80 wall seconds; the bot steps through it
    # one candle at a time whatever the speed.
    account = await new_replay_account(
        db, start, {"USDT": "20000"}, speed="600", slippage=str(SLIPPAGE)
    )
    paper = replay_exchange(db, account, wall)
    wall.move(CANDLES * MINUTE / 600)
    closes = await paper.visible_candle_closes(SYMBOL, limit=CANDLES)
    assert closes == [c.ts + MINUTE for c in candles[1:]]
    bot = PaperBot(paper, GridStrategy(config, MARKET))
    trades, state = await bot.run([start, *closes])

    assert as_records(trades, bot.tag_of, candles[0].ts) == expected.fills
    assert strategy.dump_state(state) == expected.strategy_state
    balances = await paper.fetch_balance()
    assert balances["USDT"].total == expected.final_quote
    assert balances["BTC"].total == expected.final_base
    assert sum(t.fee.cost for t in trades if t.fee) == expected.fees
