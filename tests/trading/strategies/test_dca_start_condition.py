"""A DCA bot's indicator start condition: no deal before the signal, the base order at the next
open, the cooldown, then the next signal; and "immediate" bots that never ask for candles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from autogrid.backtest.engine import BacktestRun, BacktestSettings, run_backtest
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.trading.candles import CandleArrays, arrays_from_rows
from autogrid.trading.strategies.base import PlaceOrder, Snapshot, Wake
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.dca_start import StartCondition
from autogrid.trading.strategies.dca_state import DcaState
from autogrid.trading.strategies.signals import RsiRule

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(1))
MINUTE = 60_000
T0 = datetime(1970, 1, 1, tzinfo=UTC)
# RSI(2) crossing below 30 (previous >= 30 > current), read on these 1m candles.
RSI_START = StartCondition(RsiRule(period=2, buy_below=30, sell_above=70), parse_timeframe("1m"))
IMMEDIATE = DcaConfig(
    base_order_volume=D(100),
    safety_order_volume=D(0),
    safety_order_step_percentage=D(2),
    take_profit=D(1),
)
ON_RSI = replace(IMMEDIATE, start_condition=RSI_START)

# (open, high, low, close). RSI(2) is 100 while the closes rise; the drop at candle 6 takes the
# average gain to (1 + 0) / 2 = 0.5 and the average loss to (0 + 9) / 2 = 4.5: RSI = 100 - 100 /
# (1 + 0.5 / 4.5) = 10, a cross below 30. Candles 11 and 17 cross again the same way.
BARS = [
    (100, 100, 100, 100),
    (100, 101, 100, 101),
    (101, 102, 101, 102),
    (102, 103, 102, 103),
    (103, 104, 103, 104),
    (104, 105, 104, 105),
    (105, 105, 96, 96),  # 6: signal
    (96.2, 96.5, 96, 96.4),  # 7: the base order fills at this open
    (96.4, 97.2, 96.3, 97.2),  # 8: take profit 96.2 x 1.01 = 97.162 -> 97.16 fills
    (97.2, 98, 97.2, 98),
    (98, 99, 98, 99),
    (99, 99, 92, 92),  # 11: signal, during the cooldown
    (92, 93, 92, 93),
    (93, 94, 93, 94),
    (94, 95, 94, 95),
    (95, 96, 95, 96),
    (96, 97, 96, 97),
    (97, 97, 90, 90),  # 17: signal, after the cooldown
    (90.5, 91, 90.4, 91),  # 18: the second base order fills at this open
    (91, 91.2, 90.9, 91.1),
]
SIGNALS = [6, 11, 17]


def candles() -> CandleArrays:
    return arrays_from_rows(
        [[i * MINUTE, o, h, low, c, 1.0] for i, (o, h, low, c) in enumerate(BARS)]
    )


def run(config: DcaConfig, *, skip_ahead: bool) -> BacktestRun:
    settings = BacktestSettings(MARKET, D(10_000), timeframe_ms=MINUTE, skip_ahead=skip_ahead)
    return run_backtest(DcaStrategy(config, MARKET), candles(), settings)


def test_the_hand_built_candles_signal_where_the_comments_say() -> None:
    data = candles()
    series = RSI_START.series(data)
    assert series["rsi"][5] == 100 and series["rsi"][6] == pytest.approx(10)
    assert np.flatnonzero(RSI_START.entries(series)).tolist() == SIGNALS


@pytest.mark.parametrize("skip_ahead", [True, False])
def test_no_deal_before_the_signal_then_the_base_order_at_the_next_open(skip_ahead: bool) -> None:
    config = replace(ON_RSI, cooldown_seconds=0)
    result = run(config, skip_ahead=skip_ahead)

    first = result.fills[0]
    assert (first.tag, first.index, first.side, first.price) == ("D1.BO", 7, Side.BUY, D("96.2"))
    assert first.amount == D("1.04166")  # 100 USDT at the signal candle's close 96
    tp = result.fills[1]
    assert (tp.tag, tp.index, tp.price) == ("D1.TP1", 8, D("97.16"))
    # Without a cooldown the very next signal (11) opens the next deal, at 12's open.
    assert [(f.tag, f.index) for f in result.fills if f.tag.endswith(".BO")] == [
        ("D1.BO", 7),
        ("D2.BO", 12),
        ("D3.BO", 18),
    ]


@pytest.mark.parametrize("skip_ahead", [True, False])
def test_after_the_cooldown_the_bot_waits_for_the_next_signal(skip_ahead: bool) -> None:
    # The deal closes at candle 8's close (minute 9): the cooldown runs to minute 14, the close
    # of candle 13. The signal at 11 comes during it; nothing opens at 13 or after until 17.
    config = replace(ON_RSI, cooldown_seconds=300)
    result = run(config, skip_ahead=skip_ahead)

    assert [(f.tag, f.index, f.price) for f in result.fills] == [
        ("D1.BO", 7, D("96.2")),
        ("D1.TP1", 8, D("97.16")),
        ("D2.BO", 18, D("90.5")),
    ]
    deal = result.strategy_state["deals"][0]
    assert deal["closed_at"] == (T0 + timedelta(minutes=9)).isoformat()
    assert result.strategy_state["next_start_at"] == (T0 + timedelta(minutes=14)).isoformat()


def test_skipping_ahead_calls_the_strategy_on_fewer_candles_for_the_same_trades() -> None:
    config = replace(ON_RSI, cooldown_seconds=300)
    fast, every = run(config, skip_ahead=True), run(config, skip_ahead=False)
    assert fast.fills == every.fills and fast.strategy_state == every.strategy_state
    assert every.decide_calls == len(BARS)
    assert fast.decide_calls < every.decide_calls / 2


def test_immediate_opens_at_once_and_asks_for_no_candles() -> None:
    strategy = DcaStrategy(IMMEDIATE, MARKET)
    assert strategy.candles_needed() == 0
    assert strategy.indicators(candles()) == {}
    assert strategy.signal_mask({}) is None  # the engine keeps its plain skip-ahead
    result = run(IMMEDIATE, skip_ahead=True)
    assert (result.fills[0].tag, result.fills[0].index) == ("D1.BO", 1)

    on_rsi = DcaStrategy(ON_RSI, MARKET)
    assert on_rsi.candles_needed() == RsiRule(2, 30, 70).warmup()
    assert set(on_rsi.indicators(candles())) == {"rsi"}


# --- decisions more frequent than the rule's candles (paper replay, live) -------------------

FIFTEEN = parse_timeframe("15m")
ON_15M_RSI = replace(ON_RSI, start_condition=StartCondition(RsiRule(2, 30, 70), FIFTEEN))


def snapshot(now: datetime, last_open: datetime, rsi: tuple[float, float]) -> Snapshot:
    """A decision at ``now`` whose latest closed 15m candle opened at ``last_open``."""
    opened = int((last_open - T0) / timedelta(milliseconds=1))
    ts = np.array([opened - FIFTEEN.ms, opened], dtype=np.int64)
    prices = np.array([100.0, 100.0])
    window = CandleArrays(ts, prices, prices, prices, prices, prices)
    return Snapshot(
        now=now,
        market=MARKET,
        price=D(100),
        open_orders=(),
        free_base=D(0),
        free_quote=D(10_000),
        candles=window,
        indicators={"rsi": rsi},
    )


def test_a_signal_opens_one_deal_however_often_the_bot_decides() -> None:
    strategy = DcaStrategy(ON_15M_RSI, MARKET)
    crossed = (20.0, 40.0)  # latest, previous: a cross below 30
    candle = T0 + timedelta(hours=1)  # closes at 1:15
    at_first = strategy.decide(
        snapshot(candle + timedelta(minutes=16), candle, crossed), DcaState(), []
    )
    assert at_first.actions == (PlaceOrder("D1.BO", Side.BUY, OrderType.MARKET, D(1)),)

    # The deal closed at 1:20 (no cooldown): the 1:15 candle's signal is spent...
    closed = DcaState(deal=1, next_start_at=T0 + timedelta(hours=1, minutes=20))
    later = strategy.decide(snapshot(candle + timedelta(minutes=21), candle, crossed), closed, [])
    assert later.actions == () and later.wake == Wake()
    # ...and the next candle, closing at 1:30, may signal again.
    following = candle + timedelta(minutes=15)
    fresh = strategy.decide(
        snapshot(following + timedelta(minutes=15), following, crossed), closed, []
    )
    assert fresh.actions == (PlaceOrder("D2.BO", Side.BUY, OrderType.MARKET, D(1)),)


def test_no_deal_without_a_signal_or_while_cooling_down() -> None:
    strategy = DcaStrategy(ON_15M_RSI, MARKET)
    candle = T0 + timedelta(hours=1)
    now = candle + timedelta(minutes=15)
    quiet = strategy.decide(snapshot(now, candle, (35.0, 40.0)), DcaState(), [])
    assert quiet.actions == () and quiet.wake == Wake()  # signal candles wake it, not a clock
    warming_up = strategy.decide(snapshot(now, candle, (20.0, float("nan"))), DcaState(), [])
    assert warming_up.actions == ()

    cooling = DcaState(deal=1, next_start_at=now + timedelta(minutes=5))
    waiting = strategy.decide(snapshot(now, candle, (20.0, 40.0)), cooling, [])
    assert waiting.actions == () and waiting.wake == Wake(at=now + timedelta(minutes=5))
