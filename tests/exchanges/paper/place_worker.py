"""A separate OS process placing and cancelling orders on a shared paper account.

    python -m tests.exchanges.paper.place_worker URL ACCOUNT_ID NAME --count N [--start-at T]

Waits until ``--start-at`` (so the workers really overlap), then places N limit buys of 0.002 BTC
at 50,000 (each locks 100.1 USDT with the fee), cancels every fourth right away, and tries the
client ids ``shared-0`` .. ``shared-4`` that every worker also tries. Prints what happened as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import TypedDict

from autogrid.exchanges import errors
from autogrid.exchanges.types import Side
from tests.exchanges.paper.helpers import (
    SYMBOL,
    WallClock,
    limit,
    open_database,
    replay_exchange,
)

SHARED_IDS = [f"shared-{i}" for i in range(5)]


class Outcome(TypedDict):
    accepted: list[str]
    insufficient: int
    duplicates: int
    canceled: int


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("account_id", type=uuid.UUID)
    parser.add_argument("name")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args()
    database = open_database(args.url)
    paper = replay_exchange(database, args.account_id, WallClock())
    await paper.load_markets()
    outcome: Outcome = {"accepted": [], "insufficient": 0, "duplicates": 0, "canceled": 0}
    await asyncio.sleep(max(0.0, args.start_at - time.time()))
    cids = [f"{args.name}-{i}" for i in range(args.count)]
    for index, cid in enumerate([*SHARED_IDS, *cids]):
        try:
            await paper.create_order(limit(cid, Side.BUY, "0.002", "50000"))
        except errors.InsufficientFunds:
            outcome["insufficient"] += 1
            continue
        except errors.DuplicateClientOrderId:
            outcome["duplicates"] += 1
            continue
        outcome["accepted"].append(cid)
        if index % 4 == 3 and cid not in SHARED_IDS:
            canceled = await paper.cancel_order(SYMBOL, client_order_id=cid)
            outcome["canceled"] += canceled is not None
    print(json.dumps(outcome), flush=True)
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
