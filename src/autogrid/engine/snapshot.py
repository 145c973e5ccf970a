"""What the strategy is shown: the Snapshot, and the fills it has not seen yet.

Its own open orders are the bot's non-terminal order rows, each by the strategy's tag (NEW and
in-flight orders included: the strategy asked for them and they may rest on the exchange).
The fills come from the strategy inbox, in the order the runtime recorded them; a fill is
"complete" when it is the last unseen fill of an order that is now FILLED.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.types import CandleData, MarketRules, OrderType, Side
from autogrid.market_data.timeframes import datetime_to_ms, parse_timeframe
from autogrid.models import Fill
from autogrid.orders import store as repo
from autogrid.orders.values import OrderView, tag_of
from autogrid.trading.orders import OrderStatus
from autogrid.trading.strategies.base import (
    CandleWindow,
    RestingOrder,
    Snapshot,
    Strategy,
    StrategyFill,
)

ZERO = Decimal(0)
INBOX_BATCH = 500
_HIDDEN = frozenset({OrderStatus.DENIED.value})


@dataclass(slots=True)
class Inbox:
    entry_ids: list[int]
    fills: list[StrategyFill]
    rows: list[Fill]


def resting_orders(orders: Sequence[OrderView]) -> tuple[RestingOrder, ...]:
    resting = []
    for order in orders:
        tag = tag_of(order)
        if tag is None or order.status in _HIDDEN:
            continue
        resting.append(
            RestingOrder(
                tag,
                Side(order.side),
                OrderType(order.type),
                order.price,
                order.amount,
                order.filled,
            )
        )
    return tuple(resting)


async def read_inbox(session: Any, bot_id: uuid.UUID, base: str, quote: str) -> Inbox:
    rows = await repo.inbox(session, bot_id, INBOX_BATCH)
    last_of_order: dict[uuid.UUID, int] = {}
    for position, (_, fill, _) in enumerate(rows):
        last_of_order[fill.order_id] = position
    fills: list[StrategyFill] = []
    for position, (_, fill, order) in enumerate(rows):
        complete = order.status == OrderStatus.FILLED and last_of_order[order.id] == position
        fills.append(
            StrategyFill(
                tag=tag_of(order) or "",
                side=Side(fill.side),
                price=fill.price,
                amount=fill.amount,
                fee_quote=fill.fee if fill.fee_currency == quote else ZERO,
                fee_base=fill.fee if fill.fee_currency == base else ZERO,
                ts=fill.ts,
                order_complete=complete,
            )
        )
    return Inbox([entry for entry, _, _ in rows], fills, [fill for _, fill, _ in rows])


def closed_candles(rows: Sequence[CandleData], timeframe: str, now: datetime) -> list[CandleData]:
    """Only candles that have closed by ``now``: an exchange's newest candle is often the one
    still forming, and a signal on it could vanish before its close. (One extra is fetched so
    the window stays full.)"""
    step_ms = parse_timeframe(timeframe).ms
    now_ms = datetime_to_ms(now)
    return [row for row in rows if datetime_to_ms(row.ts) + step_ms <= now_ms]


async def build_snapshot(
    connector: ExchangeConnector,
    market: MarketRules,
    strategy: Strategy[Any],
    orders: Sequence[OrderView],
    now: datetime,
    price: Decimal,
    timeframe: str | None,
) -> Snapshot:
    balances = await connector.fetch_balance()
    base = balances.get(market.base)
    quote = balances.get(market.quote)
    candles: CandleWindow | None = None
    indicators: dict[str, tuple[float, float]] = {}
    needed = strategy.candles_needed()
    if needed and timeframe:
        rows = closed_candles(
            await connector.fetch_ohlcv(market.symbol, timeframe, limit=needed + 1),
            timeframe,
            now,
        )[-needed:]
        candles = CandleWindow(
            np.array([datetime_to_ms(c.ts) for c in rows], dtype=np.int64),
            np.array([float(c.open) for c in rows]),
            np.array([float(c.high) for c in rows]),
            np.array([float(c.low) for c in rows]),
            np.array([float(c.close) for c in rows]),
            np.array([float(c.volume) for c in rows]),
        )
        for name, series in strategy.indicators(candles).items():
            latest = float(series[-1]) if len(series) else math.nan
            previous = float(series[-2]) if len(series) > 1 else math.nan
            indicators[name] = (latest, previous)
    return Snapshot(
        now=now,
        market=market,
        price=price,
        open_orders=resting_orders(orders),
        free_base=base.free if base else ZERO,
        free_quote=quote.free if quote else ZERO,
        candles=candles,
        indicators=indicators,
    )
