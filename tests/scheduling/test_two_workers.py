"""Two real worker processes, two beats, duplicated tick messages, one bot: ticks never overlap
(every tick records when it held the bot), and the bot still trades exactly like the backtest."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.exchanges.paper import BINANCE_SPOT_RULES
from autogrid.market_data.repository import load_arrays
from autogrid.models import PaperAccount
from autogrid.trading.candles import CandleArrays
from tests.engine.test_paper_replay import GRID, starting_replay_grid
from tests.exchanges.paper.helpers import EXCHANGE, MINUTE, real_candles, store_candles
from tests.support.factories import fills_of, load_bot, make_user, orders_of
from tests.support.workers import Faults, Stack, eventually, flush_prefix, isolated_settings
from tests.worker.processes import all_running

pytestmark = pytest.mark.slow

D = Decimal
# 150 minutes of candles: 14 backtest fills to compare, and 15 s of replay at speed 600 for both
# workers to get their turns (300 made 18 fills in 30 s).
CANDLES = 150
DUPLICATED_TICKS = 30


@pytest.fixture
def stack(settings: Settings, db: Database, tmp_path: Path) -> Iterator[Stack]:
    processes = Stack(isolated_settings(settings, tmp_path), tmp_path)
    yield processes
    processes.close()
    flush_prefix(processes.settings)


def intervals(trace: Path) -> list[tuple[int, int, str]]:
    """(start, end, owner) of every tick, from the lines each worker appended."""
    if not trace.exists():
        return []
    open_ticks: dict[str, int] = {}
    done: list[tuple[int, int, str]] = []
    for line in trace.read_text().splitlines():
        what, owner, _bot, ns = line.split()
        if what == "start":
            assert owner not in open_ticks, "a worker started a tick inside its own tick"
            open_ticks[owner] = int(ns)
        elif owner in open_ticks:
            done.append((open_ticks.pop(owner), int(ns), owner))
    return sorted(done)


async def test_two_workers_never_drive_one_bot_at_once(
    stack: Stack, db: Database, tmp_path: Path
) -> None:
    candles = real_candles(CANDLES)
    await store_candles(db, candles)
    user_id = await make_user(db)
    # Every candle revealed within 15 s (speed 600): duplicated ticks all along, so both
    # workers drive it before the replay ends (and the bot stops itself).
    bot_id = await starting_replay_grid(db, user_id, candles, 600, tick_interval_seconds=1)
    trace = tmp_path / "ticks.trace"
    faults = Faults(trace=trace, hold=0.2)
    with all_running(
        stack.worker("one", faults),
        stack.worker("two", faults),
        stack.beat("beat-a"),
        stack.beat("beat-b"),
    ):
        await eventually(lambda: _ready(stack, 2), stack)
        for _ in range(DUPLICATED_TICKS // 2):
            # Pairs of identical messages, as if each were delivered twice, over a few seconds.
            stack.tick(bot_id)
            stack.tick(bot_id)
            await asyncio.sleep(0.2)

        async def replayed_by_both() -> bool:
            # Duplicates all along: the bot stops itself at the replay's end, so both workers
            # must get their turns before it.
            stack.tick(bot_id)
            stack.tick(bot_id)
            account = await _account(db, bot_id)
            done = account is not None and account.matched_until >= candles[-1].ts + MINUTE
            return done and len({owner for _, _, owner in intervals(trace)}) == 2

        await eventually(replayed_by_both, stack, timeout=90, every=0.5)

        async def stopped() -> bool:  # the replay is over: the bot stops itself
            return (await load_bot(db, bot_id)).status == "stopped"

        await eventually(stopped, stack)
        await asyncio.sleep(1.0)  # let the queued duplicates run out
    ticks = intervals(trace)
    owners = {owner for _, _, owner in ticks}
    assert len(owners) == 2, "both workers ticked the bot"
    for (_, end, first), (start, _, second) in itertools.pairwise(ticks):
        assert end <= start, f"{first} and {second} drove the bot at the same time"

    # Driven by two workers in turn, the bot still made the backtest's trades.
    assert (await load_bot(db, bot_id)).status == "stopped"
    async with db.session_scope() as session:
        stored = await load_arrays(session, EXCHANGE, "BTC/USDT", "1m")
    arrays = CandleArrays(
        stored.ts_ms, stored.open, stored.high, stored.low, stored.close, stored.volume
    )
    market = BINANCE_SPOT_RULES["BTC/USDT"]
    expected = run_backtest(
        build_strategy("grid", GRID, market),
        arrays,
        BacktestSettings(market, D(20_000), maker_fee=D("0.001"), taker_fee=D("0.001")),
    )
    tags = {o.id: (o.intent or {})["tag"] for o in await orders_of(db, bot_id)}
    got = sorted((f.ts, tags[f.order_id], f.price, f.amount) for f in await fills_of(db, bot_id))
    want = sorted((f.ts, f.tag, f.price, f.amount) for f in expected.fills)
    assert got == want and len(got) > 5


def _ready(stack: Stack, workers: int) -> bool:
    texts = [log.read_text(errors="replace") for log in stack.logs if log.exists()]
    return sum("ready." in text for text in texts) >= workers


async def _account(db: Database, bot_id: Any) -> PaperAccount | None:
    bot = await load_bot(db, bot_id)
    account_id = (bot.state or {}).get("paper", {}).get("account_id")
    if account_id is None:
        return None
    async with db.session_scope() as session:
        return await session.get(PaperAccount, uuid.UUID(account_id), populate_existing=True)
