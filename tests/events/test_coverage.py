"""Every event type is produced by a real scenario somewhere in the suite, and asserted there.

The table names, for each type, the test whose scenario produces it and checks it. A new type
without a scenario fails here; so does a scenario renamed or no longer checking its type."""

from __future__ import annotations

import ast
from functools import cache

import pytest

from autogrid.events.types import EventType
from tests.infra import REPO_ROOT

T = EventType
CRUD = "tests/bots/test_crud.py::test_events_are_newest_first_paginated_and_filtered"
JOURNEY = "tests/bots/test_lifecycle.py::test_the_full_user_journey"
LIVE_DCA = (
    "tests/engine/test_dca_end_to_end.py::"
    "test_a_live_dca_deal_through_safety_orders_to_take_profit_then_cooldown_and_stop_loss"
)
ORDER_LIFE = (
    "tests/execution/test_journal_orders.py::"
    "test_an_order_placed_acknowledged_partly_then_fully_filled_with_each_fill"
)
ORDER_ENDS = (
    "tests/execution/test_journal_orders.py::test_a_cancelled_an_expired_and_a_denied_order"
)
REFUSED = "tests/execution/test_refused_creates.py::"
KILL_SWITCH = (
    "tests/events/test_api.py::test_the_kill_switch_is_an_account_event_for_every_bot_owner"
)

PRODUCED_BY: dict[EventType, str] = {
    T.CREATED: CRUD,
    T.UPDATED: CRUD,
    T.START_REQUESTED: CRUD,
    T.STOP_REQUESTED: CRUD,
    T.PAUSED: JOURNEY,
    T.RESUMED: JOURNEY,
    T.STARTED: LIVE_DCA,
    T.STOPPED: LIVE_DCA,
    T.ERROR: "tests/engine/test_tick_live.py::test_a_strategy_that_raises_stops_only_its_bot",
    T.REPLAY_FINISHED: (
        "tests/engine/test_paper_stop_end_to_end.py::"
        "test_a_replay_over_a_short_range_stops_itself_and_says_so"
    ),
    T.WAITING_FOR_DATA: (
        "tests/engine/test_indicator_end_to_end.py::"
        "test_indicator_bots_trade_in_paper_replay_exactly_like_the_backtest"
    ),
    T.STOP_SELL_SKIPPED: (
        "tests/engine/test_paper_stopping.py::"
        "test_a_replay_with_no_candle_left_gives_the_sale_up_and_says_so"
    ),
    T.BREAKER_TRIPPED: (
        "tests/engine/test_tick_live.py::test_the_kill_switch_halts_the_bot_and_denies_new_orders"
    ),
    T.BREAKER_RESET: (
        "tests/bots/test_lifecycle.py::test_reset_breaker_resumes_a_halted_bot_and_forgets_the_loss"
    ),
    T.KILL_SWITCH_ENGAGED: KILL_SWITCH,
    T.KILL_SWITCH_RELEASED: KILL_SWITCH,
    T.ORDER_PLACED: ORDER_LIFE,
    T.ORDER_ACKNOWLEDGED: ORDER_LIFE,
    T.ORDER_PARTIALLY_FILLED: ORDER_LIFE,
    T.ORDER_FILLED: ORDER_LIFE,
    T.FILL: ORDER_LIFE,
    T.ORDER_CANCELLED: ORDER_ENDS,
    T.ORDER_EXPIRED: ORDER_ENDS,
    T.ORDER_DENIED: ORDER_ENDS,
    T.ORDER_REJECTED: REFUSED + "test_a_definitive_rejection_is_not_placed_again_but_recorded",
    T.ORDER_REPLACED: REFUSED
    + "test_a_create_that_never_executed_is_placed_again_under_a_new_client_id",
    T.ORDER_NOT_PLACED: (
        REFUSED + "test_an_intent_refused_on_every_attempt_ends_with_an_event_and_a_halted_bot"
    ),
    T.ORDER_ANOMALY: (
        REFUSED + "test_an_order_that_appears_after_it_was_concluded_never_placed_is_cancelled"
    ),
    T.UNKNOWN_EXCHANGE_ORDER: (
        "tests/execution/test_reconcile.py::"
        "test_exchange_orders_the_database_never_saw_are_reported_not_cancelled"
    ),
    T.DEAL_OPENED: LIVE_DCA,
    T.DEAL_CLOSED: LIVE_DCA,
    T.SCHEDULED_BUY_MADE: (
        "tests/engine/test_scheduled_buys.py::test_each_slot_buys_once_on_time_for_the_amount"
    ),
    T.SCHEDULED_BUY_SKIPPED: (
        "tests/engine/test_scheduled_buys.py::test_missed_slots_are_skipped_by_default"
    ),
    T.STRATEGY_ACTION: (
        "tests/signals/test_signal_bot_own_actions.py::"
        "test_a_stop_loss_sale_is_journalled_as_a_strategy_action"
    ),
    T.NOTIFICATION_CHANNEL_DISABLED: (
        "tests/notifications/test_delivery.py::"
        "test_a_channel_that_keeps_failing_is_switched_off_with_an_event"
    ),
    T.ACCOUNT_LIMIT_REACHED: (
        "tests/engine/test_account_limits.py::"
        "test_two_paper_bots_of_one_user_share_the_trades_per_day_limit"
    ),
    T.BOT_STALLED: (
        "tests/notifications/test_dead_man.py::"
        "test_a_stalled_running_bot_is_reported_once_per_stall"
    ),
    T.SIGNAL_RECEIVED: (
        "tests/signals/test_entry.py::"
        "test_an_accepted_signal_is_stored_with_its_event_and_answered_202"
    ),
    T.SIGNAL_EXECUTED: (
        "tests/signals/test_end_to_end.py::"
        "test_signals_pause_and_resume_a_running_bot_through_the_worker"
    ),
    T.SIGNAL_REFUSED: (
        "tests/signals/test_entry.py::"
        "test_a_duplicate_by_alert_id_or_by_body_is_recorded_and_ignored"
    ),
    T.FLEET_STALLED: (
        "tests/notifications/test_fleet_alerts.py::"
        "test_the_beat_process_tells_admins_when_no_worker_consumes_and_when_one_does"
    ),
    T.FLEET_RECOVERED: (
        "tests/notifications/test_fleet_alerts.py::"
        "test_the_beat_process_tells_admins_when_no_worker_consumes_and_when_one_does"
    ),
    T.DAILY_SUMMARY: (
        "tests/notifications/test_daily_summary.py::"
        "test_one_summary_a_day_at_the_users_local_hour_to_subscribed_channels"
    ),
}


@cache
def _test_source(node_id: str) -> str:
    path, name = node_id.split("::")
    source = (REPO_ROOT / path).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) or ""
    raise AssertionError(f"{node_id} does not exist")


def test_every_event_type_has_a_scenario() -> None:
    assert set(PRODUCED_BY) == set(EventType)


@pytest.mark.parametrize("type", list(EventType), ids=lambda t: t.value)
def test_the_scenario_checks_its_event_type(type: EventType) -> None:
    source = _test_source(PRODUCED_BY[type])
    # The type's value as the API says it, or its name (T.FILL, ORDER_REJECTED_EVENT...).
    assert f'"{type.value}"' in source or type.name in source, PRODUCED_BY[type]
