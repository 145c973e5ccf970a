"""Account limits, the pure check (``trading.account_limits``) and its place in ``trading.risk``:
each limit refuses exactly the entries that break it, exits never, and a decision's accepted
entries count against the next ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading import breaker as cb
from autogrid.trading.account_limits import (
    AccountLimits,
    AccountStanding,
    BookedValue,
    Entry,
    LimitName,
    accept,
    check_entry,
    risk_share_pct,
    value_booking,
)
from autogrid.trading.risk import OrderIntent, PreTrade, Risk, vet, vet_all

D = Decimal
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MARKET = MarketRules(
    "BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.0001"), D(100), D(5), D(1), D(10**6)
)

counts = st.integers(min_value=0, max_value=50)
limits_int = st.none() | st.integers(min_value=1, max_value=50)
money = st.decimals(min_value=D("0.01"), max_value=D(10**6), places=2)
signed = st.decimals(min_value=D(-(10**6)), max_value=D(10**6), places=2)
shares = st.none() | st.decimals(min_value=D("0.01"), max_value=D(100), places=2)


@st.composite
def standings(draw: st.DrawFn) -> AccountStanding:
    limits = AccountLimits(
        max_trades_per_day=draw(limits_int),
        max_daily_loss=draw(st.none() | money),
        max_risk_per_trade_pct=draw(shares),
        max_open_positions=draw(limits_int),
    )
    return AccountStanding(
        limits,
        trades_today=draw(counts),
        realized_today=draw(signed),
        open_positions=draw(counts),
        bot_has_position=draw(st.booleans()),
        equity=draw(st.none() | money),
        unvalued_losses=draw(st.sampled_from([(), (("BTC", D("-0.001")),)])),
    )


@st.composite
def entries(draw: st.DrawFn, is_entry: bool | None = None) -> Entry:
    price = draw(money)
    stop = draw(st.none() | st.decimals(min_value=D("0.01"), max_value=price, places=2))
    buying = draw(st.booleans()) if is_entry is None else is_entry
    return Entry(buying, draw(money), price, stop)


@given(entries(is_entry=False), standings())
def test_an_exit_is_never_refused(entry: Entry, standing: AccountStanding) -> None:
    assert check_entry(entry, standing) is None
    assert accept(entry, standing) == standing


@given(entries(), standings())
def test_without_limits_nothing_is_refused(entry: Entry, standing: AccountStanding) -> None:
    assert check_entry(entry, replace(standing, limits=AccountLimits())) is None


@given(entries(is_entry=True), standings())
def test_each_limit_refuses_exactly_the_entries_that_break_it(
    entry: Entry, standing: AccountStanding
) -> None:
    limits = standing.limits
    broken = []
    loss_limit = limits.max_daily_loss
    # A loss that could not be valued in USDT cannot be checked: it refuses, never ignored.
    if loss_limit is not None and (
        standing.realized_today <= -loss_limit or standing.unvalued_losses
    ):
        broken.append(LimitName.LOSS_PER_DAY)
    if limits.max_trades_per_day is not None and standing.trades_today >= limits.max_trades_per_day:
        broken.append(LimitName.TRADES_PER_DAY)
    positions = limits.max_open_positions
    opens_one = not standing.bot_has_position
    if positions is not None and opens_one and standing.open_positions >= positions:
        broken.append(LimitName.OPEN_POSITIONS)
    share = limits.max_risk_per_trade_pct
    if share is not None and entry.stop_price is not None and entry.stop_price < entry.price:
        risk = (entry.price - entry.stop_price) * entry.amount
        equity = standing.equity
        if equity is None or risk * 100 > share * equity:
            broken.append(LimitName.RISK_PER_TRADE)

    breach = check_entry(entry, standing)
    if not broken:
        assert breach is None
    else:
        assert breach is not None and breach.limit == broken[0]  # the first, in this order
        assert breach.limit.value in {name.value for name in LimitName}


@given(entries(is_entry=True), standings())
def test_an_accepted_entry_counts_once_and_opens_at_most_one_position(
    entry: Entry, standing: AccountStanding
) -> None:
    after = accept(entry, standing)
    assert after.trades_today == standing.trades_today + 1
    opened = 0 if standing.bot_has_position else 1
    assert after.open_positions == standing.open_positions + opened
    assert accept(entry, after).open_positions == after.open_positions  # adds to it


def test_risk_per_trade_is_the_loss_to_the_stop_over_equity() -> None:
    entry = Entry(True, D("0.5"), D(60000), D(58000))  # risks 1000
    assert risk_share_pct(entry, D(50000)) == D(2)
    limits = AccountLimits(max_risk_per_trade_pct=D(2))
    assert check_entry(entry, AccountStanding(limits, equity=D(50000))) is None
    breach = check_entry(entry, AccountStanding(limits, equity=D("49999")))
    assert breach is not None and breach.limit == LimitName.RISK_PER_TRADE
    # No stop: nothing to measure, the limit does not apply.
    assert check_entry(Entry(True, D(1), D(60000)), AccountStanding(limits, equity=D(1))) is None
    # A stop with no equity to measure it against is refused.
    assert check_entry(entry, AccountStanding(limits, equity=None)) is not None


def _buy(tag: str, stop: str | None = None) -> OrderIntent:
    return OrderIntent(
        tag, Side.BUY, OrderType.LIMIT, D("0.01"), D(50000), D(stop) if stop else None
    )


def _checks(killed: str | None = None) -> PreTrade:
    return PreTrade(MARKET, D(50000), cb.BreakerLimits(), T0, T0, killed)


@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=12), counts)
def test_a_decisions_entries_are_counted_one_after_the_other(
    limit: int, done: int, wanted: int
) -> None:
    standing = AccountStanding(AccountLimits(max_trades_per_day=limit), trades_today=done)
    intents = [_buy(f"B{i}") for i in range(wanted)]
    vetted, risk = vet_all(intents, _checks(), Risk(cb.BreakerState(), account=standing))
    allowed = [v for v in vetted if v.allowed]
    assert len(allowed) == min(wanted, max(limit - done, 0))
    assert all(v.breach is not None for v in vetted if not v.allowed)
    assert [v.allowed for v in vetted] == sorted((v.allowed for v in vetted), reverse=True)
    assert risk.account is not None and risk.account.trades_today == done + len(allowed)
    # A refusal by an account limit is not an order sent: the breaker's rate count ignores it.
    assert len(risk.breaker.order_times) == len(allowed)


def test_sells_go_through_at_the_limit_and_the_kill_switch_comes_first() -> None:
    standing = AccountStanding(AccountLimits(max_trades_per_day=1), trades_today=1)
    sell = OrderIntent("S1", Side.SELL, OrderType.LIMIT, D("0.01"), D(51000))
    (kept, refused), _ = vet_all(
        [sell, _buy("B1")], _checks(), Risk(cb.BreakerState(), account=standing)
    )
    assert kept.allowed and not refused.allowed and refused.breach is not None
    assert refused.denial is not None and "trades per day" in refused.denial
    killed, _ = vet(_buy("B2"), _checks("drill"), Risk(cb.BreakerState(), account=standing))
    assert killed.breach is None and killed.denial == "kill switch: drill"


def test_a_booking_is_valued_in_usdt_at_its_rate_or_kept_unvalued() -> None:
    assert value_booking(D("-12.5"), "USDT", None) == BookedValue(D("-12.5"), D(0))
    assert value_booking(D("-0.001"), "BTC", D(60000)) == BookedValue(D(-60), D(0))
    assert value_booking(D("-0.001"), "BTC", None) == BookedValue(D(0), D("-0.001"))
