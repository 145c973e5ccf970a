"""Bot rows whose state was written before it had a version: a running bot carries on exactly
where it was (no second ladder, the same memory), a stop request the old API wrote is carried
out as asked, and the row gets its version on the next write."""

from __future__ import annotations

from typing import Any

from autogrid.bots.state import STATE_VERSION
from autogrid.models import BotStatus
from autogrid.scheduling.ticking import tick_bot
from tests.support.factories import SYMBOL, LiveAccount, load_bot, orders_of, set_bot


def unversioned(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` as the code before the versioned model wrote it."""
    return {key: value for key, value in state.items() if key != "version"}


async def test_a_running_bot_with_an_unversioned_state_carries_on_where_it_was(
    live: LiveAccount,
) -> None:
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)
    before = (await load_bot(live.db, bot_id)).state
    ladder = sorted(o.client_order_id for o in await orders_of(live.db, bot_id))
    assert len(ladder) == 5 and before["version"] == STATE_VERSION
    await set_bot(live.db, bot_id, state=unversioned(before))

    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills: the strategy answers with a sell
    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.RUNNING
    rows = await orders_of(live.db, bot_id)
    assert set(ladder) <= {o.client_order_id for o in rows}  # the same ladder, not a new one
    assert len(rows) == 6  # and the sell answering the fill
    assert bot.state["version"] == STATE_VERSION
    assert bot.state["ledger"] != before["ledger"]  # the fill reached the ledger
    # The breaker still counts the ladder's orders (its memory was read, not started afresh).
    assert len(before["breaker"]["order_times"]) == 5
    assert len(bot.state["breaker"]["order_times"]) == 6


async def test_a_stop_request_of_an_unversioned_row_is_carried_out_as_asked(
    live: LiveAccount,
) -> None:
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)
    state = unversioned((await load_bot(live.db, bot_id)).state)
    request = {"cancel_orders": False, "sell_base": False, "requested_at": "2026-01-01T00:00Z"}
    await set_bot(live.db, bot_id, status="stopping", state={**state, "stop_request": request})

    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.STOPPED
    assert {o.status for o in await orders_of(live.db, bot_id)} == {"open"}  # left on the book
    assert len(live.sim.orders(status="NEW")) == 5
    assert "stop_request" not in bot.state and bot.state["version"] == STATE_VERSION
