"""DCA formulas and deals, to the cent against hand computations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal as D

import pytest

from autogrid.backtest.engine import BacktestRun, BacktestSettings, run_backtest
from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.candles import arrays_from_rows
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import (
    DcaConfig,
    TakeProfitType,
    cumulative_deviation,
    max_deal_funds,
    safety_order_price,
    safety_order_volume,
)

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(1))
MINUTE = 60_000
CONFIG = DcaConfig(
    base_order_volume=D(100),
    safety_order_volume=D(50),
    safety_order_step_percentage=D(2),
    martingale_volume_coefficient=D(2),
    martingale_step_coefficient=D("1.5"),
    max_safety_orders=3,
    active_safety_orders_count=2,
    take_profit=D(1),
)


def test_safety_order_formulas() -> None:
    assert [safety_order_volume(CONFIG, n) for n in (1, 2, 3)] == [D(50), D(100), D(200)]
    # D(SS^n - 1)/(SS - 1): 2, 2 x 2.5 = 5, 2 x 4.75 = 9.5
    assert [cumulative_deviation(CONFIG, n) for n in (1, 2, 3)] == [D(2), D(5), D("9.5")]
    assert safety_order_price(CONFIG, D(100), 3) == D("90.5")
    flat = DcaConfig(D(100), D(50), D(2), D(1), max_safety_orders=4, active_safety_orders_count=1)
    assert [cumulative_deviation(flat, n) for n in (1, 4)] == [D(2), D(8)]
    # BO + SO(VS^N - 1)/(VS - 1) = 100 + 50 x 7; with VS = 1: BO + N x SO
    assert max_deal_funds(CONFIG) == D(450)
    assert max_deal_funds(flat) == D(300)


def run(
    config: DcaConfig,
    bars: Sequence[tuple[float, float, float, float]],
    skip_ahead: bool = True,
) -> BacktestRun:
    rows = [[i * MINUTE, o, h, low, c, 1.0] for i, (o, h, low, c) in enumerate(bars)]
    fee = D("0.001")
    return run_backtest(
        DcaStrategy(config, MARKET),
        arrays_from_rows(rows),
        BacktestSettings(MARKET, D(10_000), maker_fee=fee, taker_fee=fee, skip_ahead=skip_ahead),
    )


@pytest.mark.parametrize("skip_ahead", [True, False])
def test_deal_through_a_safety_order_to_take_profit(skip_ahead: bool) -> None:
    bars = [
        (100, 100, 100, 100),  # decide: market base order
        (100, 100.2, 99.9, 100),  # BO fills at the open: 1 BTC @100; SO1 @98, SO2 @95, TP @101
        (99.5, 99.6, 97.5, 98.2),  # SO1 fills @98: 50/98 -> 0.51020 BTC
        (98.5, 100.4, 98.4, 100.3),  # TP re-placed at avg x 1.01 = 100.32; touched? no (100.4 high)
    ]
    result = run(CONFIG, bars, skip_ahead=skip_ahead)
    buys = [(f.tag, f.price, f.amount) for f in result.fills if f.side is Side.BUY]
    assert buys == [("D1.BO", D(100), D(1)), ("D1.SO1", D(98), D("0.51020"))]
    # average entry = (100 + 0.51020 x 98) / 1.51020 = 149.9996 / 1.51020 = 99.3243...
    # take profit = 99.3243 x 1.01 = 100.3175... -> 100.32 on the 0.01 tick; the high 100.4 fills it
    sells = [(f.tag, f.price, f.amount) for f in result.fills if f.side is Side.SELL]
    assert sells == [("D1.TP2", D("100.32"), D("1.51020"))]
    deal = result.strategy_state["deals"][0]
    cost = D("100") + D("0.1") + D("49.9996") + D("0.0499996")  # notional + 0.1% fees
    proceeds = D("1.51020") * D("100.32") * (1 - D("0.001"))
    assert D(deal["cost"]) == cost
    assert D(deal["proceeds"]) == proceeds
    assert D(deal["profit"]) == proceeds - cost
    assert round(D(deal["profit"]), 2) == D("1.20")
    assert deal["close_reason"] == "take_profit" and deal["safety_orders_filled"] == 1


def test_stop_loss_closes_the_deal_at_market() -> None:
    config = DcaConfig(
        D(100),
        D(50),
        D(2),
        D(1),
        max_safety_orders=1,
        active_safety_orders_count=1,
        stop_loss_percentage=D(5),
    )
    bars = [
        (100, 100, 100, 100),
        (100, 100, 100, 100),
        (99, 99, 97, 98),
        (97, 97, 92, 92),
        (91, 91, 90, 90),
    ]
    result = run(config, bars)
    deal = result.strategy_state["deals"][0]
    assert deal["close_reason"] == "stop_loss"
    exit_fill = result.fills[-1]
    assert exit_fill.tag == "D1.EXIT" and exit_fill.price == D(91)  # next open after the signal
    assert D(deal["profit"]) < 0


def test_trailing_take_profit_follows_the_peak_and_sells_on_reversal() -> None:
    config = DcaConfig(
        D(100),
        D(50),
        D(2),
        D(2),
        max_safety_orders=1,
        active_safety_orders_count=1,
        trailing_take_profit=True,
        trailing_deviation=D("0.5"),
    )
    bars = [
        (100, 100, 100, 100),
        (100, 100, 100, 100),
        (101, 102.5, 101, 102.1),
        (102, 104, 102, 103.9),
        (103.8, 103.9, 103.3, 103.3),
        (103.2, 103.4, 103, 103.1),
    ]
    result = run(config, bars)
    deal = result.strategy_state["deals"][0]
    # armed at 102.1 (>= 102), peak 103.9, exits when close <= 103.9 x 0.995 = 103.3805
    assert deal["close_reason"] == "trailing_take_profit"
    assert result.fills[-1].price == D("103.2")


def test_cooldown_between_deals() -> None:
    config = DcaConfig(
        D(100), D(50), D(2), D(1), cooldown_seconds=180, take_profit_type=TakeProfitType.BASE
    )
    bars = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 101.5, 100, 101)] + [
        (101, 101, 101, 101)
    ] * 6
    result = run(config, bars)
    opens = [f for f in result.fills if f.tag.endswith(".BO")]
    assert [f.tag for f in opens] == ["D1.BO", "D2.BO"]
    assert opens[1].ts - result.fills[1].ts >= timedelta(seconds=180)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"martingale_volume_coefficient": D("10.5")}, "martingale_volume_coefficient"),
        ({"max_safety_orders": 201}, "max_safety_orders"),
        ({"active_safety_orders_count": 5}, "active_safety_orders_count"),
        ({"safety_order_step_percentage": D(40)}, "100%"),
    ],
)
def test_invalid_configs_are_refused(overrides: dict[str, object], message: str) -> None:
    params = (
        {**CONFIG.__dict__}
        if hasattr(CONFIG, "__dict__")
        else {name: getattr(CONFIG, name) for name in CONFIG.__dataclass_fields__}
    )
    params.update(overrides)
    with pytest.raises(StrategyConfigError, match=message):
        DcaStrategy(DcaConfig(**params), MARKET)
