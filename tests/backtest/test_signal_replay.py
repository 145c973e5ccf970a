"""Replaying a signal list over real candles: trades and P&L by hand from the candle file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from autogrid.backtest.engine import BacktestSettings
from autogrid.backtest.signal_replay import (
    ReplaySignal,
    SignalListError,
    replay_signals,
)
from autogrid.exchanges.types import MarketRules, Side
from autogrid.signals.model import Amount, AmountUnit, ParsedSignal, SignalAction, TakeProfit
from autogrid.trading.candles import CandleArrays, arrays_from_rows
from tests.shared_data import load_csv_rows

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
HOUR = 3_600_000
SETTINGS = BacktestSettings(MARKET, D(10_000), timeframe_ms=HOUR)
CENT = D("0.01")
ROWS = load_csv_rows("binance_BTC_USDT-1h.csv.gz", limit=600)
DATA: CandleArrays = arrays_from_rows(ROWS.tolist())


def opened(index: int) -> datetime:
    return datetime.fromtimestamp(int(DATA.ts_ms[index]) / 1000, UTC)


def price(value: float) -> D:
    return D(repr(float(value)))


def buy(base: str, **extra: object) -> ParsedSignal:
    return ParsedSignal(SignalAction.BUY, "test", amount=Amount(D(base), AmountUnit.BASE), **extra)  # type: ignore[arg-type]


SELL = ParsedSignal(SignalAction.SELL, "test")


def test_a_buy_then_a_sell_gives_the_trade_and_pnl_by_hand() -> None:
    # The sell arrives mid-candle: it is delivered at the next candle's open.
    items = [
        ReplaySignal(opened(10), buy("0.1")),
        ReplaySignal(opened(40) - timedelta(minutes=20), "SIGNAL=SELL"),
    ]
    result = replay_signals(items, DATA, SETTINGS)
    fills = result.run.fills
    assert [(f.index, f.side, f.amount) for f in fills] == [
        (10, Side.BUY, D("0.1")),
        (40, Side.SELL, D("0.1")),
    ]
    bought, sold = price(DATA.open[10]), price(DATA.open[40])
    expected = D("0.1") * sold * D("0.999") - D("0.1") * bought * D("1.001")
    assert result.realized_pnl.quantize(CENT) == expected.quantize(CENT)
    assert (result.run.final_quote - D(10_000)).quantize(CENT) == expected.quantize(CENT)
    assert result.run.final_base == 0
    assert result.delivered == {0: 10, 1: 40}
    assert all(outcome.accepted for outcome in result.outcomes)


def test_a_stop_loss_sells_at_the_open_after_the_first_close_at_or_below_it() -> None:
    entry = 10
    lows = DATA.close[entry : entry + 200]
    stop = price(float(np.min(lows)))  # some close in the range reaches it
    hit = entry + int(np.argmax(DATA.close[entry:] <= float(stop)))
    items = [ReplaySignal(opened(entry), buy("0.1", stop_loss=stop))]
    result = replay_signals(items, DATA, SETTINGS)
    sells = [f for f in result.run.fills if f.side is Side.SELL]
    assert [(f.index, f.amount, f.price) for f in sells] == [
        (hit + 1, D("0.1"), price(DATA.open[hit + 1]))
    ]
    assert [(o.ref, o.action) for o in result.outcomes][-1] == (-1, "stop_loss")


def test_take_profit_steps_sell_their_shares_at_their_prices() -> None:
    entry = 10
    bought = price(DATA.open[entry])
    first, second = (bought * D("1.03")).quantize(CENT), (bought * D("1.08")).quantize(CENT)
    steps = (TakeProfit(first, D(30)), TakeProfit(second))
    result = replay_signals(
        [ReplaySignal(opened(entry), buy("0.1", take_profits=steps))], DATA, SETTINGS
    )
    sells = [
        (f.tag[0], f.amount, f.price, f.index) for f in result.run.fills if f.side is Side.SELL
    ]
    # Placed after the entry filled (decided at its close): they rest from the next candle.
    reach = np.maximum(DATA.high, DATA.open)
    hit_first = entry + 1 + int(np.argmax(reach[entry + 1 :] >= float(first)))
    hit_second = entry + 1 + int(np.argmax(reach[entry + 1 :] >= float(second)))
    assert [(tag, amount, index) for tag, amount, _, index in sells] == [
        ("T", D("0.03"), hit_first),
        ("T", D("0.07"), hit_second),
    ]
    assert sells[0][2] >= first and sells[1][2] >= second
    assert result.run.final_base == 0
    assert result.realized_pnl > 0


def test_two_signals_in_one_candle_act_together_in_list_order() -> None:
    inside = opened(20) - timedelta(minutes=50)
    items = [
        ReplaySignal(inside, buy("0.1")),
        ReplaySignal(inside + timedelta(minutes=30), buy("0.05")),
    ]
    result = replay_signals(items, DATA, SETTINGS)
    assert [(f.index, f.amount) for f in result.run.fills] == [(20, D("0.1")), (20, D("0.05"))]
    assert [o.ref for o in result.outcomes] == [0, 1]
    assert result.run.final_base == D("0.15")


def test_signals_outside_the_data_are_reported_not_replayed() -> None:
    items = [
        ReplaySignal(opened(0) - timedelta(hours=3), buy("0.1")),
        ReplaySignal(opened(0), buy("0.1")),  # no candle before it to decide at
        ReplaySignal(opened(5), buy("0.1")),
        ReplaySignal(opened(len(DATA) - 1) + timedelta(seconds=1), SELL),
    ]
    result = replay_signals(items, DATA, SETTINGS)
    assert result.before_start == (0, 1)
    assert result.after_end == (3,)
    assert result.delivered == {2: 5}
    assert [f.index for f in result.run.fills] == [5]
    refused = [(o.ref, o.accepted, "not replayed" in o.reason) for o in result.outcomes]
    assert sorted(refused) == [
        (0, False, True),
        (1, False, True),
        (2, True, False),
        (3, False, True),
    ]


def test_a_refused_signal_is_recorded_with_its_reason() -> None:
    items = [ReplaySignal(opened(5), SELL), ReplaySignal(opened(6), buy("100"))]
    result = replay_signals(items, DATA, SETTINGS)
    assert result.run.fills == []
    assert [(o.ref, o.accepted) for o in result.outcomes] == [(0, False), (1, False)]
    assert "nothing held" in result.outcomes[0].reason
    assert "quote" in result.outcomes[1].reason


def test_an_unparsable_body_is_refused_with_its_index_and_position() -> None:
    items = [ReplaySignal(opened(5), buy("0.1")), ReplaySignal(opened(6), "SIGNAL=BUY\nVOLUME=x")]
    with pytest.raises(SignalListError) as caught:
        replay_signals(items, DATA, SETTINGS)
    assert caught.value.index == 1
    assert caught.value.position == len("SIGNAL=BUY\nVOLUME=")
