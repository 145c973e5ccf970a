"""Time the PostgreSQL candle loader (``load_arrays``) on the real 1m file: 30 days and all of it.

Run from the repository root:  .venv/bin/python bench/bench_load_arrays.py [--repeat 5]

A fresh migrated database on the test server (AUTOGRID_TEST_PG_ADMIN) gets the whole file. For
each range it prints the best of ``--repeat`` loads: wall time, this process's CPU and the CPU of
the PostgreSQL process serving it (a local server), beside the loader it replaced (six sorted
``array_agg``), kept here as the reference. On a loaded machine compare the CPU columns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.infra import migrated_database  # noqa: E402

from autogrid.core.config import Settings  # noqa: E402
from autogrid.core.db import Database  # noqa: E402
from autogrid.market_data.repository import load_arrays  # noqa: E402
from autogrid.market_data.service import import_candle_file  # noqa: E402

ONE_MINUTE = REPO_ROOT.parent / "shared" / "data" / "binance_BTC_USDT-1m.csv.gz"
FIRST_OPEN = datetime(2025, 5, 20, tzinfo=UTC)
SERIES = ("binance", "BTC/USDT", "1m")
SORTED_AGGREGATES = text(
    """
    SELECT array_agg(CAST(EXTRACT(EPOCH FROM ts) * 1000 AS BIGINT) ORDER BY ts),
           array_agg(CAST(open AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(high AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(low AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(close AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(volume AS DOUBLE PRECISION) ORDER BY ts)
    FROM ohlcv
    WHERE exchange = 'binance' AND symbol = 'BTC/USDT' AND timeframe = '1m'
      AND ts >= COALESCE(CAST(:start AS TIMESTAMPTZ), '-infinity')
      AND ts < COALESCE(CAST(:end AS TIMESTAMPTZ), 'infinity')
    """
)


async def binary_copy(session: AsyncSession, start: datetime | None, end: datetime | None) -> int:
    return len(await load_arrays(session, *SERIES, start, end))


async def sorted_aggregates(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> int:
    row = (await session.execute(SORTED_AGGREGATES, {"start": start, "end": end})).one()
    arrays = [np.array(row[0], dtype=np.int64), *(np.array(c, dtype=np.float64) for c in row[1:])]
    return len(arrays[0])  # the columns as the loader returned them


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(url: str, repeat: int) -> None:
    database = Database.from_settings(Settings(database_url=url), pooled=False)
    try:
        async with database.session_scope() as session:
            exchange, symbol, timeframe = SERIES
            await import_candle_file(
                session, ONE_MINUTE, exchange=exchange, symbol=symbol, timeframe=timeframe
            )
            await session.execute(text("ANALYZE ohlcv"))
        ranges = {"30 days": (FIRST_OPEN, FIRST_OPEN + timedelta(days=30)), "all": (None, None)}
        loaders = {"binary COPY": binary_copy, "sorted array_agg": sorted_aggregates}
        async with database.session_scope() as session:
            server = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
            for label, (start, end) in ranges.items():
                for name, loader in loaders.items():
                    best = [float("inf")] * 3
                    for _ in range(repeat):
                        server_cpu = process_cpu(server)
                        wall, cpu = time.perf_counter(), time.process_time()
                        rows = await loader(session, start, end)
                        taken = (
                            time.perf_counter() - wall,
                            time.process_time() - cpu,
                            process_cpu(server) - server_cpu,
                        )
                        best = [min(pair) for pair in zip(best, taken, strict=True)]
                    print(
                        f"{label:8} {name:17} {rows:>8,} rows  wall {best[0]:5.3f} s  "
                        f"cpu: client {best[1]:5.3f} s, server {best[2]:5.3f} s (best of {repeat})"
                    )
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with migrated_database("autogrid_bench") as url:
        asyncio.run(bench(url, args.repeat))


if __name__ == "__main__":
    main()
