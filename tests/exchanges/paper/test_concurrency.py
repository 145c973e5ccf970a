"""Two worker processes placing and cancelling on one paper account never corrupt it: the
account row lock serialises them (SELECT ... FOR UPDATE on PostgreSQL, the write lock on SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from autogrid.exchanges.types import ExchangeOrderStatus
from tests.exchanges.paper.helpers import (
    MINUTE,
    SYMBOL,
    D,
    WallClock,
    new_replay_account,
    open_database,
    replay_exchange,
)
from tests.exchanges.paper.place_worker import SHARED_IDS
from tests.infra import REPO_ROOT

PER_WORKER = 60
LOCK_PER_ORDER = D("0.002") * 50_000 * D("1.001")


def worker(url: str, account: str, name: str, start_at: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.exchanges.paper.place_worker",
            url,
            account,
            name,
            "--count",
            str(PER_WORKER),
            "--start-at",
            str(start_at),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    parsed: dict[str, Any] = json.loads(out)
    return parsed


async def test_two_processes_share_one_account_safely(database_url: str) -> None:
    database = open_database(database_url)
    try:
        account = await new_replay_account(
            database, datetime(2025, 1, 1, tzinfo=UTC) + MINUTE, {"USDT": "5000"}
        )
        start_at = time.time() + 4  # both have imported everything and connected by then
        processes = [worker(database_url, str(account), name, start_at) for name in ("a", "b")]
        outcomes = [result(process) for process in processes]

        attempts = 2 * (PER_WORKER + len(SHARED_IDS))
        accepted = [cid for outcome in outcomes for cid in outcome["accepted"]]
        assert (
            len(accepted) + sum(o["insufficient"] + o["duplicates"] for o in outcomes) == attempts
        )
        # 5,000 USDT holds 49 orders of 100.1: the rest was refused, none was lost or doubled
        assert sum(o["insufficient"] for o in outcomes) > 0
        assert sum(o["duplicates"] for o in outcomes) == len(SHARED_IDS)
        assert sorted(cid for cid in accepted if cid.startswith("shared")) == SHARED_IDS

        paper = replay_exchange(database, account, WallClock())
        open_orders = await paper.fetch_open_orders(SYMBOL)
        canceled = sum(o["canceled"] for o in outcomes)
        assert len(open_orders) == len(accepted) - canceled
        assert all(o.status is ExchangeOrderStatus.OPEN for o in open_orders)
        assert len({o.client_order_id for o in open_orders}) == len(open_orders)
        usdt = (await paper.fetch_balance())["USDT"]
        assert usdt.used == LOCK_PER_ORDER * len(open_orders)
        assert usdt.free + usdt.used == 5_000
        assert usdt.free >= 0
        assert usdt.free < LOCK_PER_ORDER or canceled > 0
    finally:
        await database.dispose()
