"""Time the import of the real 130,708-row Binance BTC/USDT 1m file into PostgreSQL and SQLite.

Run from the repository root:  .venv/bin/python bench/bench_import.py [FILE] [--timeframe 1m]

Each backend gets a fresh migrated database (PostgreSQL: a throw-away database on the test
server, AUTOGRID_TEST_PG_ADMIN; SQLite: a temp file). Three timings per backend: the first import
(all rows inserted), the same file again (all unchanged) and the numpy loader.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.infra import migrated_database, run_alembic  # noqa: E402

from autogrid.core.config import Settings  # noqa: E402
from autogrid.core.db import Database  # noqa: E402
from autogrid.market_data.repository import load_arrays  # noqa: E402
from autogrid.market_data.service import import_candle_file  # noqa: E402

DEFAULT_FILE = REPO_ROOT.parent / "shared" / "data" / "binance_BTC_USDT-1m.csv.gz"


async def bench(label: str, url: str, path: Path, timeframe: str) -> None:
    database = Database.from_settings(Settings(database_url=url), pooled=False)
    try:
        for attempt in ("first import", "re-import"):
            started = time.perf_counter()
            async with database.session_scope() as session:
                report = await import_candle_file(
                    session, path, exchange="binance", symbol="BTC/USDT", timeframe=timeframe
                )
            seconds = time.perf_counter() - started
            print(
                f"{label:10} {attempt:12} {report.rows_read:>8,} rows in {seconds:6.2f} s "
                f"= {report.rows_read / seconds:>9,.0f} rows/s  (inserted {report.inserted:,}, "
                f"updated {report.updated:,}, unchanged {report.unchanged:,})"
            )
        started = time.perf_counter()
        async with database.session_scope() as session:
            arrays = await load_arrays(session, "binance", "BTC/USDT", timeframe)
        seconds = time.perf_counter() - started
        print(
            f"{label:10} {'load_arrays':12} {len(arrays):>8,} rows in {seconds:6.2f} s "
            f"= {len(arrays) / seconds:>9,.0f} rows/s"
        )
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--timeframe", default="1m")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with migrated_database("autogrid_bench") as pg_url:
        asyncio.run(bench("postgresql", pg_url, args.file, args.timeframe))
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as directory:
            sqlite_url = f"sqlite+aiosqlite:///{directory}/bench.db"
            run_alembic(sqlite_url, "upgrade", "head")
            asyncio.run(bench("sqlite", sqlite_url, args.file, args.timeframe))


if __name__ == "__main__":
    main()
