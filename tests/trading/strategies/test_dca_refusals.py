"""A DCA bot whose market order (base order, exit) pre-trade risk keeps refusing: it places it
again, never gives up, but backs off while the refusals go on, so an hour of refusals leaves a
handful of refused orders (each one a DENIED row and an ``order_denied`` event at the runtime),
not one per price. Pure: the runtime is played by a loop deciding at every price, its state
stored and loaded at each decision as a restarted worker would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.dca_state import DcaState
from autogrid.trading.strategies.refusals import RETRY_CAP, retry_delay
from tests.trading.strategies.exchange_model import Account
from tests.trading.strategies.refusing_runtime import TICK, RefusingRuntime

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
CONFIG = DcaConfig(
    base_order_volume=D(100),
    safety_order_volume=D(50),
    safety_order_step_percentage=D(2),
    take_profit=D(1),
    max_safety_orders=1,
    stop_loss_percentage=D(1),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
# An hour of refusals: the first two at once, then 1, 2, 4, 8 and 16 minutes apart, then every
# 16 minutes. A few more are allowed for, never one per price (360 of them).
AN_HOURS_REFUSALS = 10


def Runtime(only_when_woken: bool, refusing: frozenset[Side] = frozenset()) -> RefusingRuntime:
    """A DCA bot run by the refusing runtime (pre-trade risk refuses the sides in ``refusing``)."""
    strategy = DcaStrategy(CONFIG, MARKET)
    account = Account(MARKET, D(10_000))
    return RefusingRuntime(strategy, DcaState(), account, only_when_woken, refusing=refusing)


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_a_base_order_refused_for_an_hour_is_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    """The owner's daily loss limit refuses every entry for an hour: the bot tries again, less
    and less often, and opens its deal once the limit allows it."""
    bot = Runtime(only_when_woken, refusing=frozenset({Side.BUY}))
    now = bot.run(T0, T0 + HOUR, D(100))

    assert all(tag.endswith(".BO") for tag in bot.refused_tags)
    assert 2 <= len(bot.refused_tags) <= AN_HOURS_REFUSALS
    assert bot.placed_tags == [] and bot.state.phase in {"idle", "opening"}
    assert set(bot.refused_tags) == {"D1.BO"}  # one deal tried again, no number burnt

    bot.refusing = frozenset()  # the limit allows entries again
    bot.run(now, now + RETRY_CAP + 2 * TICK, D(100))
    assert bot.placed_tags[0] == "D1.BO" and bot.state.deal == 1
    assert bot.state.phase == "in_deal" and bot.state.retry_at is None
    assert {tag.split(".")[1] for tag in bot.placed_tags} == {"BO", "SO1", "TP1"}


@pytest.mark.parametrize("only_when_woken", [False, True])
def test_a_stop_loss_sale_refused_for_an_hour_is_placed_again_with_a_back_off(
    only_when_woken: bool,
) -> None:
    bot = Runtime(only_when_woken)
    now = bot.run(T0, T0 + 3 * TICK, D(100))  # the base order fills; SO1 and TP1 rest
    assert bot.state.phase == "in_deal"
    held = bot.account.base_total

    bot.refusing = frozenset({Side.SELL})
    now = bot.run(now, now + HOUR, D("98.5"))  # below the 1 % stop loss

    exits = [tag for tag in bot.refused_tags if ".EXIT" in tag]
    assert 2 <= len(exits) <= AN_HOURS_REFUSALS
    assert bot.state.phase == "closing" and bot.account.base_total == held

    bot.refusing = frozenset()
    bot.run(now, now + RETRY_CAP + 2 * TICK, D("98.5"))
    assert [d.close_reason for d in bot.state.deals] == ["stop_loss"]
    assert bot.state.retry_at is None and bot.state.refusals == 0


def test_a_refusal_that_passes_is_retried_at_the_next_price() -> None:
    """One refusal costs nothing: the order goes again at once (the back-off starts with the
    second refusal in a row), and a fill ends the episode."""
    bot = Runtime(only_when_woken=True, refusing=frozenset({Side.BUY}))
    bot.step(T0, D(100))
    bot.refusing = frozenset()
    bot.step(T0 + TICK, D(100))
    assert bot.refused_tags == ["D1.BO"] and bot.placed_tags == ["D1.BO"]  # the same deal
    bot.step(T0 + 2 * TICK, D(100))
    assert bot.state.phase == "in_deal" and bot.state.refusals == 0


def test_the_delay_grows_from_nothing_to_its_cap() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[0] == timedelta(0) and delays[1] == timedelta(minutes=1)
    assert delays == sorted(delays) and max(delays) == RETRY_CAP == delays[-1]
    assert retry_delay(10**6) == RETRY_CAP


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),  # buys refused during this stretch
            st.booleans(),  # sells refused during this stretch
            st.sampled_from([D(94), D(97), D(99), D(100), D(101), D(102)]),
            st.integers(1, 40),  # ticks in it
        ),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_deals_are_numbered_one_by_one_whatever_is_refused(
    stretches: list[tuple[bool, bool, D, int]], only_when_woken: bool
) -> None:
    """Any run of refusals and prices: the deals whose base order reached the book are 1, 2, 3...
    with no number skipped, and every refused base order was the next deal's (so a deal number
    stands for one deal, and its journal says "opened" once)."""
    bot = Runtime(only_when_woken)
    now = T0
    for buys, sells, price, ticks in stretches:
        bot.refusing = frozenset(side for side, on in ((Side.BUY, buys), (Side.SELL, sells)) if on)
        now = bot.run(now, now + ticks * TICK, price)

    opened = [deal_of(tag) for tag in bot.placed_tags if tag.endswith(".BO")]
    assert opened == list(range(1, len(opened) + 1))
    tried = {deal_of(tag) for tag in bot.refused_tags if tag.endswith(".BO")}
    assert tried <= set(range(1, len(opened) + 2))  # an opened deal's, or the next one's
    assert bot.state.deal in (len(opened), len(opened) + 1)


def deal_of(tag: str) -> int:
    """``D12.BO`` -> 12."""
    return int(tag[1:].split(".")[0])
