"""The paper arithmetic without a database: per-currency wallets over ``SimAccount``, candle
matching over ``match_bar``, and independence from the thread's decimal context."""

from __future__ import annotations

import decimal
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from autogrid.exchanges.paper.matching import (
    Wallet,
    at_money_scale,
    match_candle,
    sim_order,
)
from autogrid.exchanges.types import CandleData, ExchangeOrderStatus, MarketRules, Side
from autogrid.models.paper import PaperOrder
from autogrid.trading.simulation.account import InsufficientBalance

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ETH_BTC = MarketRules("ETH/BTC", "ETH", "BTC", D("0.0001"), D("0.00001"), D("0.0001"))


def order(
    key: str, side: Side, price: str | None, amount: str = "1", placed: datetime = T0
) -> PaperOrder:
    return PaperOrder(
        id=int(key[1:]) if key[1:].isdigit() else 0,
        exchange_order_id=key,
        client_order_id=key,
        symbol="ETH/BTC",
        side=side.value,
        type="limit" if price else "market",
        price=D(price) if price else None,
        amount=D(amount),
        filled=D(0),
        status="open",
        locked=D(0),
        fee=D(0),
        placed_at=placed,
    )


def wallet(**balances: str) -> Wallet:
    return Wallet(
        {c: (D(v), D(0)) for c, v in balances.items()}, maker_fee=D("0.001"), taker_fee=D("0.002")
    )


def test_at_money_scale_keeps_exact_values_and_rounds_the_rest() -> None:
    assert at_money_scale(D("90.09")) == D("90.09")
    assert str(at_money_scale(D("90.09"))) == "90.09"  # untouched, not padded
    assert at_money_scale(D("1") / D("3")) == D("0.333333333333333333")
    assert at_money_scale(D("123456789012345.123456789")) == D("123456789012345.123456789")


def test_a_wallet_locks_and_releases_only_the_pair_it_trades() -> None:
    funds = wallet(BTC="1", USDT="500")
    buy = order("b1", Side.BUY, "0.05")
    locked = funds.lock(ETH_BTC, sim_order(buy), D("0.05"))
    assert locked == D("0.05005")  # 1 ETH at 0.05 BTC, plus the maker fee
    assert funds.balances == {
        "BTC": (D("0.94995"), D("0.05005")),
        "ETH": (D(0), D(0)),
        "USDT": (D(500), D(0)),
    }
    assert funds.touched == {"BTC", "ETH"}
    with pytest.raises(InsufficientBalance):
        funds.lock(ETH_BTC, sim_order(order("s1", Side.SELL, "0.06")), D("0.05"))
    funds.release(ETH_BTC, sim_order(buy), locked)
    assert funds.balances["BTC"] == (D(1), D(0))


def test_a_candle_matches_orders_placed_before_it_in_path_order() -> None:
    funds = wallet(BTC="10", ETH="10")
    orders = [
        order(f"o{i}", side, price)
        for i, (side, price) in enumerate(
            [(Side.BUY, "0.049"), (Side.SELL, "0.052"), (Side.BUY, "0.0495")]
        )
    ]
    late = order("o9", Side.BUY, "0.0499", placed=T0 + timedelta(seconds=1))
    for each in [*orders, late]:
        each.locked = funds.lock(ETH_BTC, sim_order(each), D("0.05"))
    # open 0.05, high 0.0521, low 0.0475: up first (the high is nearer), then down
    candle = CandleData(T0, D("0.05"), D("0.0521"), D("0.0475"), D("0.049"), D(1))
    executions = match_candle(
        funds, [*orders, late], ETH_BTC, candle, T0 + timedelta(minutes=1), D(0)
    )
    assert [(e.order.exchange_order_id, e.price) for e in executions] == [
        ("o1", D("0.052")),
        ("o2", D("0.0495")),
        ("o0", D("0.049")),
    ]
    assert late.status == ExchangeOrderStatus.OPEN  # placed after the candle opened
    assert all(o.status == ExchangeOrderStatus.CLOSED and o.locked == 0 for o in orders)
    assert [e.fee for e in executions] == [D("0.000052"), D("0.0000495"), D("0.000049")]


def test_the_arithmetic_ignores_a_context_ccxt_rewrote() -> None:
    """ccxt's decimal_to_precision sets the thread's rounding to ROUND_HALF_UP; a lock that
    needs rounding must come out as in a fresh process."""

    def lock() -> Decimal:
        funds = wallet(BTC="1")
        return funds.lock(
            ETH_BTC, sim_order(order("b", Side.BUY, "0.0123456789012345", "0.3333")), D(1)
        )

    reference = lock()
    with decimal.localcontext() as ambient:
        ambient.rounding, ambient.prec = decimal.ROUND_HALF_UP, 12
        assert lock() == reference
