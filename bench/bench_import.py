"""Time the import of the real 130,708-row Binance BTC/USDT 1m file into PostgreSQL and SQLite.

Run from the repository root:  .venv/bin/python bench/bench_import.py [FILE] [--timeframe 1m]

Each backend gets a fresh migrated database (PostgreSQL: a throw-away database on the test
server, AUTOGRID_TEST_PG_ADMIN; SQLite: a temp file). Timings per backend: the first import (all
rows inserted), the same file again (all unchanged), a file overlapping the stored range by half
(half inserted, half unchanged) and the numpy loader. PostgreSQL also gets the floor: one plain
COPY of the same rows, already in COPY text, into the emptied table; on a loaded machine compare
the import with that floor measured in the same run, and with the CPU columns (this process;
the PostgreSQL server process serving the import), which do not depend on the load.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.infra import migrated_database, run_alembic  # noqa: E402

from autogrid.core.config import Settings  # noqa: E402
from autogrid.core.db import Database  # noqa: E402
from autogrid.market_data.parsers import CandleReader  # noqa: E402
from autogrid.market_data.repository import load_arrays  # noqa: E402
from autogrid.market_data.service import import_candle_file  # noqa: E402
from autogrid.market_data.timeframes import parse_timeframe  # noqa: E402

DEFAULT_FILE = REPO_ROOT.parent / "shared" / "data" / "binance_BTC_USDT-1m.csv.gz"


async def bench(label: str, url: str, path: Path, timeframe: str, overlap: Path) -> None:
    database = Database.from_settings(Settings(database_url=url), pooled=False)
    try:
        if label == "postgresql":
            await copy_floor(database, path, timeframe)
        attempts = (("first import", path), ("re-import", path), ("overlap", overlap))
        for attempt, source in attempts:
            async with database.session_scope() as session:
                server = await server_cpu(session)
                started, cpu = time.perf_counter(), time.process_time()
                report = await import_candle_file(
                    session, source, exchange="binance", symbol="BTC/USDT", timeframe=timeframe
                )
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                # Before the commit (which the wall time includes): the same server process.
                if server is not None:
                    server = (await server_cpu(session) or 0.0) - server
            print(
                f"{label:10} {attempt:12} {report.rows_read:>8,} rows in {seconds:5.2f} s "
                f"= {report.rows_read / seconds:>9,.0f} rows/s  cpu: client {cpu:4.2f} s"
                + (f", server {server:4.2f} s" if server is not None else "")
                + f"  (inserted {report.inserted:,}, updated {report.updated:,}, "
                f"unchanged {report.unchanged:,})"
            )
        started = time.perf_counter()
        async with database.session_scope() as session:
            arrays = await load_arrays(session, "binance", "BTC/USDT", timeframe)
        seconds = time.perf_counter() - started
        print(
            f"{label:10} {'load_arrays':12} {len(arrays):>8,} rows in {seconds:5.2f} s "
            f"= {len(arrays) / seconds:>9,.0f} rows/s"
        )
    finally:
        await database.dispose()


async def copy_floor(database: Database, path: Path, timeframe: str) -> None:
    """One COPY of the file's rows (prepared beforehand) into an empty ohlcv: the floor."""
    rows = list(CandleReader(path, parse_timeframe(timeframe)))
    copy_text = "".join(
        f"binance\tBTC/USDT\t{timeframe}\t{c.ts.isoformat()}\t{c.open}\t{c.high}\t{c.low}\t"
        f"{c.close}\t{c.volume}\n"
        for c in rows
    ).encode()
    async with database.session_scope() as session:
        # A copy of the table, created and dropped in this transaction: ohlcv keeps no trace.
        await session.execute(text("CREATE TABLE ohlcv_floor (LIKE ohlcv INCLUDING ALL)"))
        server = await server_cpu(session)
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        started = time.perf_counter()
        await driver.copy_to_table(  # type: ignore[union-attr]
            "ohlcv_floor",
            source=io.BytesIO(copy_text),
            columns=(
                "exchange",
                "symbol",
                "timeframe",
                "ts",
                "open",
                "high",
                "low",
                "close",
                "volume",
            ),
        )
        seconds = time.perf_counter() - started
        if server is not None:
            server = (await server_cpu(session) or 0.0) - server
        await session.rollback()
    print(
        f"{'postgresql':10} {'plain COPY':12} {len(rows):>8,} rows in {seconds:5.2f} s "
        f"= {len(rows) / seconds:>9,.0f} rows/s  (the floor"
        + (f"; cpu: server {server:4.2f} s)" if server is not None else ")")
    )


async def server_cpu(session: AsyncSession) -> float | None:
    """CPU seconds used so far by the PostgreSQL process serving ``session`` (local server)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return process_cpu(await session.scalar(text("SELECT pg_backend_pid()")))


def process_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None  # not a local server
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def overlapping_file(path: Path, directory: Path) -> Path:
    """The second half of ``path`` and as many rows again past its end: half new, half stored."""
    with gzip.open(path, "rt") as source:
        lines = source.readlines()
    header, data = lines[0], lines[1:]
    half = data[len(data) // 2 :]
    step = int(data[1].split(",")[0]) - int(data[0].split(",")[0])
    last = int(data[-1].split(",")[0])
    extra = [f"{last + step * (i + 1)},{line.split(',', 1)[1]}" for i, line in enumerate(half)]
    target = directory / "overlap.csv.gz"
    with gzip.open(target, "wt") as out:
        out.writelines([header, *half, *extra])
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--timeframe", default="1m")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        overlap = overlapping_file(args.file, Path(directory))
        with migrated_database("autogrid_bench") as pg_url:
            asyncio.run(bench("postgresql", pg_url, args.file, args.timeframe, overlap))
        if not args.skip_sqlite:
            sqlite_url = f"sqlite+aiosqlite:///{directory}/bench.db"
            run_alembic(sqlite_url, "upgrade", "head")
            asyncio.run(bench("sqlite", sqlite_url, args.file, args.timeframe, overlap))


if __name__ == "__main__":
    main()
