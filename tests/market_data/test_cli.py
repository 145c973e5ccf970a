"""``autogrid data import`` through click's CliRunner, with injected settings or DATABASE_URL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.market_data.cli import data_group
from autogrid.market_data.repository import count_candles
from tests.market_data.conftest import BTC_1H, BTC_1M, head_lines, shared_file, write_gz

SERIES_OPTIONS = ["--exchange", "binance", "--symbol", "BTC/USDT"]


async def invoke(args: list[str], **kwargs: Any) -> Result:
    # The command runs its own event loop (asyncio.run), so it runs in a thread outside this one.
    return await asyncio.to_thread(CliRunner().invoke, data_group, args, **kwargs)


async def test_import_prints_counts_and_gaps_then_reimport_is_unchanged(
    settings: Settings, db: Database, btc_1m_5000: Path
) -> None:
    args = ["import", str(btc_1m_5000), *SERIES_OPTIONS, "--timeframe", "1m"]

    first = await invoke(args, obj=settings)
    second = await invoke(args, obj=settings)

    assert first.exit_code == 0, first.output
    assert "rows read:  5000 (2025-05-20T00:00Z .. 2025-05-23T11:19Z)" in first.output
    assert "inserted:   5000" in first.output
    assert "gaps:       none" in first.output
    assert "elapsed:    " in first.output
    assert second.exit_code == 0, second.output
    assert "inserted:   0" in second.output and "unchanged:  5000" in second.output
    async with db.session_scope() as session:
        assert await count_candles(session, "binance", "BTC/USDT", "1m") == 5000


async def test_gaps_are_listed(settings: Settings, db: Database, tmp_path: Path) -> None:
    lines = head_lines(BTC_1M, 30)
    del lines[10:13]  # rows 10, 11, 12 (00:09..00:11) missing
    path = write_gz(tmp_path / "gappy.csv.gz", lines)

    result = await invoke(["import", str(path), *SERIES_OPTIONS, "--timeframe", "1m"], obj=settings)

    assert result.exit_code == 0, result.output
    assert "gaps:       1 gaps, 3 missing candles" in result.output
    assert "2025-05-20T00:08Z -> 2025-05-20T00:12Z (3 missing)" in result.output


async def test_bad_row_exits_non_zero_naming_the_line(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    lines = head_lines(BTC_1M, 20)
    lines[14] = "1747699980000,105000,104000,104500,104600,1\n"  # line 15: high below open
    path = write_gz(tmp_path / "bad.csv.gz", lines)

    result = await invoke(["import", str(path), *SERIES_OPTIONS, "--timeframe", "1m"], obj=settings)

    assert result.exit_code == 1
    assert (
        f"Error: {path}: line 15: high 104000 is below max(open, close) = 105000" in result.output
    )
    assert "nothing was imported" in result.output
    async with db.session_scope() as session:
        assert await count_candles(session, "binance", "BTC/USDT", "1m") == 0


async def test_bad_timeframe_is_a_usage_error(settings: Settings, btc_1m_5000: Path) -> None:
    result = await invoke(
        ["import", str(btc_1m_5000), *SERIES_OPTIONS, "--timeframe", "60m"], obj=settings
    )
    assert result.exit_code == 2
    assert "must be written '1h'" in result.output


async def test_database_url_from_the_environment(sqlite_url: str, tmp_path: Path) -> None:
    path = shared_file("freqtrade_testdata/XRP_ETH-5m.json")
    env = {"DATABASE_URL": sqlite_url, "VAR_DIR": str(tmp_path / "var")}

    result = await invoke(
        ["import", str(path), "--exchange", "binance", "--symbol", "XRP/ETH", "--timeframe", "5m"],
        env=env,
    )

    assert result.exit_code == 0, result.output
    assert "(json) -> binance XRP/ETH 5m" in result.output
    assert "inserted:   712" in result.output
    database = Database.from_settings(Settings(database_url=sqlite_url))
    try:
        async with database.session_scope() as session:
            assert await count_candles(session, "binance", "XRP/ETH", "5m") == 712
    finally:
        await database.dispose()


async def test_a_coarser_file_than_the_timeframe_gets_a_warning(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    path = write_gz(tmp_path / "hourly.csv.gz", head_lines(BTC_1H, 30))  # hourly rows, "1m" said

    result = await invoke(["import", str(path), *SERIES_OPTIONS, "--timeframe", "1m"], obj=settings)

    assert result.exit_code == 0, result.output
    assert "gaps:       29 gaps, 1711 missing candles" in result.output
    assert (
        "warning:    no two rows are 1m apart; is --timeframe the file's timeframe?"
        in result.output
    )
