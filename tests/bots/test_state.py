"""The bot's state column as one typed, versioned model: rows written before it existed (no
``version``) read as they meant, and are written back unchanged but for the version; a newer
version is refused; keys it does not know survive."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autogrid.bots.state import (
    STATE_VERSION,
    BotState,
    StateError,
    StatePatch,
    StopRequest,
    load_state,
    parse_state,
    store_state,
)
from autogrid.models import Bot

ACCOUNT = str(uuid.uuid4())

# Every key the runtime and the API wrote before the state had a version, as they wrote them.
OLD_SHAPE: dict[str, Any] = {
    "stop_request": {
        "cancel_orders": True,
        "sell_base": False,
        "requested_at": "2026-01-02T03:04:05+00:00",
        "reason": "take profit reached",
    },
    "breaker": {"consecutive_errors": 2, "tripped": False, "orders_sent": ["2026-01-02T03:00:00"]},
    "paper": {"account_id": ACCOUNT, "settings": {"price_source": "live", "balances": {"USDT": 1}}},
    "strategy": {"levels": ["95000", "96000"], "grid_profit": "1.5", "deals": []},
    "wake": {"below": "94000", "above": None, "at": None, "every_candle": False},
    "live_tags": ["B0", "B1"],
    "decided_until": "2026-01-02T03:04:00+00:00",
    "ledger": {"position": "0.01", "realized": "3.2"},
    "last_price": "95123.45",
    "start_equity": "10000",
    "recurring_buys": {"settled_through": "2026-01-01T00:00:00+00:00", "buys": 3, "missed": 0},
    "stop_sell": {"order_id": str(uuid.uuid4())},
    "books_dirty": True,
    "unknown_exchange_orders": ["123", "456"],
}


def bot_with(state: dict[str, Any] | None) -> Bot:
    return Bot(state=state)


def test_an_unversioned_row_reads_as_typed_fields() -> None:
    state = load_state(bot_with(copy.deepcopy(OLD_SHAPE)))

    assert state.version == STATE_VERSION
    assert state.stop_request == StopRequest(
        cancel_orders=True,
        sell_base=False,
        requested_at="2026-01-02T03:04:05+00:00",
        reason="take profit reached",
    )
    assert state.paper is not None and state.paper.account_id == ACCOUNT
    assert state.paper.settings == OLD_SHAPE["paper"]["settings"]
    assert state.strategy == OLD_SHAPE["strategy"]
    assert state.live_tags == ["B0", "B1"]
    assert state.last_price == "95123.45" and state.start_equity == "10000"
    assert (
        state.stop_sell is not None
        and state.stop_sell.order_id == OLD_SHAPE["stop_sell"]["order_id"]
    )
    assert state.books_dirty is True
    assert state.unknown_exchange_orders == ["123", "456"]


def test_an_unversioned_row_is_written_back_unchanged_but_for_its_version() -> None:
    bot = bot_with(copy.deepcopy(OLD_SHAPE))

    store_state(bot, load_state(bot))

    assert bot.state == {**OLD_SHAPE, "version": STATE_VERSION}


def test_keys_this_code_does_not_know_survive_a_read_and_a_write() -> None:
    bot = bot_with({"grid": {"kept": True}, "paper": {**OLD_SHAPE["paper"], "note": "x"}})
    state = load_state(bot)
    state.last_price = "1"

    store_state(bot, state)

    assert bot.state["grid"] == {"kept": True}
    assert bot.state["paper"]["note"] == "x"
    assert bot.state["last_price"] == "1"


@pytest.mark.parametrize("stored", [None, {}])
def test_an_empty_row_is_a_fresh_state(stored: dict[str, Any] | None) -> None:
    state = load_state(bot_with(stored))

    assert state == BotState()
    assert state.strategy is None and state.stop_request is None
    assert state.to_json() == {"version": STATE_VERSION}


def test_a_row_of_a_newer_version_is_refused_not_half_read() -> None:
    with pytest.raises(StateError, match="newer"):
        parse_state({"version": STATE_VERSION + 1, "strategy": {}})


def test_cleared_fields_leave_the_row() -> None:
    bot = bot_with(copy.deepcopy(OLD_SHAPE))
    state = load_state(bot)
    state.stop_request = None
    state.strategy = None

    store_state(bot, state)

    assert "stop_request" not in bot.state and "strategy" not in bot.state
    assert bot.state["ledger"] == OLD_SHAPE["ledger"]


def test_a_patch_changes_only_what_it_sets() -> None:
    state = parse_state(copy.deepcopy(OLD_SHAPE))

    assert not StatePatch()
    assert StatePatch().applied_to(state).to_json() == state.to_json()
    patched = StatePatch(books_dirty=False).applied_to(state)
    assert patched.books_dirty is False and patched.last_price == "95123.45"
    assert state.books_dirty is True  # the original is untouched


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    strategy=st.dictionaries(st.text(max_size=8), _json, max_size=5),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k not in BotState.model_fields),
        _json.filter(lambda v: v is not None),
        max_size=3,
    ),
)
def test_whatever_the_strategy_and_unknown_keys_hold_round_trips(
    strategy: dict[str, Any], extra: dict[str, Any]
) -> None:
    stored = {**extra, "strategy": strategy}

    assert parse_state(copy.deepcopy(stored)).to_json() == {**stored, "version": STATE_VERSION}
