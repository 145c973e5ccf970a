"""``autogrid data ...``: import candle files, or download candles from an exchange.

Settings come from ``ctx.obj`` when a ``Settings`` object was put there (tests, or a parent group
that already loaded them), otherwise from the environment (``DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import DBAPIError

from autogrid.core.config import Settings, load_settings
from autogrid.core.db import Database
from autogrid.core.redis import create_redis
from autogrid.exchanges.budget import create_budgets
from autogrid.exchanges.errors import ExchangeError, OrderRejected
from autogrid.exchanges.pool import ConnectorFactory, ConnectorKey, configured_ccxt_factory
from autogrid.exchanges.retry import RetryPolicy
from autogrid.market_data.download import (
    PAGE_RETRY,
    DownloadProgress,
    DownloadReport,
    download_candles,
)
from autogrid.market_data.parsers import CandleFileError
from autogrid.market_data.service import ImportReport, InvalidSeriesKey, import_candle_file
from autogrid.market_data.timeframes import InvalidTimeframe, Timeframe, parse_timeframe

if TYPE_CHECKING:
    from autogrid.exchanges.catalog import ExchangeInfo

_ISO_MINUTE = "%Y-%m-%dT%H:%MZ"


@click.group(name="data")
def data_group() -> None:
    """Market data: candle import and download."""


def _timeframe(_ctx: click.Context, _param: click.Parameter, value: str) -> Timeframe:
    try:
        return parse_timeframe(value)
    except InvalidTimeframe as error:
        raise click.BadParameter(str(error)) from error


@data_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--exchange", required=True, help="Exchange id, e.g. binance.")
@click.option("--symbol", required=True, help="Market symbol, e.g. BTC/USDT.")
@click.option("--timeframe", required=True, callback=_timeframe, help="e.g. 1m, 1h, 1d.")
@click.pass_context
def import_command(
    ctx: click.Context, file: Path, exchange: str, symbol: str, timeframe: Timeframe
) -> None:
    """Import a candle file (CSV or freqtrade JSON, optionally gzipped) into the database.

    Re-importing is safe: equal candles are left alone, differing ones are updated.
    """
    settings = ctx.find_object(Settings) or load_settings()
    started = time.perf_counter()
    try:
        report = asyncio.run(_import(settings, file, exchange, symbol, timeframe))
    except (CandleFileError, InvalidSeriesKey) as error:
        raise click.ClickException(f"{error}\nnothing was imported") from error
    except DBAPIError as error:
        raise click.ClickException(f"database error: {error.orig or error}") from error
    click.echo(format_report(report, time.perf_counter() - started))


async def _import(
    settings: Settings, path: Path, exchange: str, symbol: str, timeframe: Timeframe
) -> ImportReport:
    database = Database.from_settings(settings, pooled=False)
    try:
        async with database.session_scope() as session:
            return await import_candle_file(
                session, path, exchange=exchange, symbol=symbol, timeframe=timeframe
            )
    finally:
        await database.dispose()


def format_report(report: ImportReport, elapsed_seconds: float) -> str:
    span = ""
    if report.first_ts is not None and report.last_ts is not None:
        span = f" ({report.first_ts:{_ISO_MINUTE}} .. {report.last_ts:{_ISO_MINUTE}})"
    lines = [
        f"{report.source} ({report.file_format}) -> "
        f"{report.exchange} {report.symbol} {report.timeframe}",
        f"rows read:  {report.rows_read}{span}",
        f"inserted:   {report.inserted}",
        f"updated:    {report.updated}",
        f"unchanged:  {report.unchanged}",
        f"gaps:       {report.gaps.describe()}",
    ]
    if report.gaps.examples:
        shown = len(report.gaps.examples)
        lines.append(f"  first {shown}:" if shown < report.gaps.gap_count else "  all:")
        lines.extend(f"    {gap}" for gap in report.gaps.examples)
    if report.rows_read > 1 and report.gaps.gap_count == report.rows_read - 1:
        lines.append(
            f"warning:    no two rows are {report.timeframe} apart; "
            "is --timeframe the file's timeframe?"
        )
    lines.append(f"elapsed:    {elapsed_seconds:.2f} s")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- download


@dataclass(frozen=True, slots=True)
class DataContext:
    """``ctx.obj`` for ``download`` when the caller provides more than settings: tests give a
    connector factory pointing at the exchange simulator (never a URL from the command line)
    and a faster page retry policy."""

    settings: Settings
    connector_factory: ConnectorFactory | None = None
    page_retry: RetryPolicy = PAGE_RETRY


def _moment(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    from autogrid.exchanges.schemas import parse_moment  # imports ccxt: only when used

    if value is None:
        return None
    try:
        return parse_moment(value, f"--{param.name}")
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


def _exchange(_ctx: click.Context, _param: click.Parameter, value: str) -> ExchangeInfo:
    from autogrid.exchanges.catalog import exchange_info  # imports ccxt: only when used

    info = exchange_info(value)
    if info is None:
        raise click.BadParameter(f"unknown exchange {value!r} (see GET /api/v1/exchanges)")
    if not info.capabilities.get("fetchOHLCV"):
        raise click.BadParameter(f"{info.name} does not offer candles through ccxt")
    return info


def _symbol(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    symbol = value.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{1,16}/[A-Z0-9]{1,16}", symbol):
        raise click.BadParameter(f"{value!r} is not a spot symbol such as BTC/USDT")
    return symbol


@data_group.command("download")
@click.option("--exchange", "info", required=True, callback=_exchange, help="e.g. binance.")
@click.option("--symbol", required=True, callback=_symbol, help="Spot symbol, e.g. BTC/USDT.")
@click.option("--timeframe", required=True, callback=_timeframe, help="e.g. 1m, 1h, 1d.")
@click.option(
    "--since", required=True, callback=_moment, help="First candle: 2025-05-20, ISO 8601 or ms."
)
@click.option("--until", callback=_moment, help="Stop before this time (default: now).")
@click.pass_context
def download_command(
    ctx: click.Context,
    info: ExchangeInfo,
    symbol: str,
    timeframe: Timeframe,
    since: datetime,
    until: datetime | None,
) -> None:
    """Download closed candles from an exchange's public API into the database.

    Paged and rate limited (the request budget is shared with the API and the workers), every
    page committed on its own: after an interruption the same command resumes where it stopped.
    Gaps the exchange really has are reported, not errors.
    """
    context = ctx.find_object(DataContext)
    settings = context.settings if context else ctx.find_object(Settings) or load_settings()
    factory = context.connector_factory if context else None
    retry = context.page_retry if context else PAGE_RETRY
    if until is not None and until <= since:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    progress = _Progress()
    started = time.perf_counter()
    try:
        report = asyncio.run(
            _download(settings, factory, retry, info, symbol, timeframe, since, until, progress)
        )
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; {progress.describe()}", err=True)
        ctx.exit(130)
    except ExchangeError as error:
        raise click.ClickException(f"download stopped: {error}\n{progress.describe()}") from None
    except DBAPIError as error:
        raise click.ClickException(f"database error: {error.orig or error}") from error
    click.echo(format_download_report(report, time.perf_counter() - started))


class _Progress:
    """Prints a line per committed page and remembers the last one for an interruption."""

    def __init__(self) -> None:
        self.last: DownloadProgress | None = None

    def __call__(self, progress: DownloadProgress) -> None:
        self.last = progress
        click.echo(
            f"page {progress.pages:>5}: {progress.received} candles received, "
            f"{progress.inserted} new, through {progress.through:{_ISO_MINUTE}} "
            f"({progress.fraction:.0%})"
        )

    def describe(self) -> str:
        if self.last is None:
            return "nothing was stored; run the same command again to retry"
        return (
            f"{self.last.inserted} new candles were stored, through "
            f"{self.last.through:{_ISO_MINUTE}}; run the same command again to resume"
        )


async def _download(
    settings: Settings,
    factory: ConnectorFactory | None,
    retry: RetryPolicy,
    info: ExchangeInfo,
    symbol: str,
    timeframe: Timeframe,
    since: datetime,
    until: datetime | None,
    on_progress: _Progress,
) -> DownloadReport:
    database = Database.from_settings(settings, pooled=False)
    redis = create_redis(settings)
    # The public budget of this exchange, shared through Redis with the API and the workers.
    build = factory or configured_ccxt_factory(
        create_budgets(redis, settings.redis_key_prefix), settings
    )
    connector = build(ConnectorKey(info.exchange_id, None, None, False), None)
    try:
        try:
            await connector.market(symbol)
        except OrderRejected:
            raise click.ClickException(f"{info.exchange_id} has no spot market {symbol}") from None
        return await download_candles(
            database,
            connector,
            info.exchange_id,
            symbol,
            timeframe,
            since,
            until,
            on_progress,
            retry=retry,
        )
    finally:
        await connector.close()
        if redis is not None:
            await redis.aclose()
        await database.dispose()


def format_download_report(report: DownloadReport, elapsed_seconds: float) -> str:
    if report.expected == 0:
        return (
            f"{report.exchange} {report.symbol} {report.timeframe}: no closed candle in the range "
            f"(from {report.start:{_ISO_MINUTE}})"
        )
    last = report.end - parse_timeframe(report.timeframe).ms * timedelta(milliseconds=1)
    lines = [
        f"{report.exchange} {report.symbol} {report.timeframe}: "
        f"{report.start:{_ISO_MINUTE}} .. {last:{_ISO_MINUTE}} ({report.expected} candles)",
    ]
    if report.resumed_from is not None:
        lines.append(f"resumed at: {report.resumed_from:{_ISO_MINUTE}} (earlier ones were stored)")
    lines += [
        f"pages:      {report.pages}",
        f"received:   {report.received}",
        f"inserted:   {report.inserted}",
        f"duplicates: {report.duplicates} already stored ({report.counts.updated} corrected)",
        f"stored:     {report.stored} of {report.expected}",
        f"gaps:       {report.gaps.describe()}",
    ]
    if report.gaps.examples:
        shown = len(report.gaps.examples)
        lines.append(f"  first {shown}:" if shown < report.gaps.gap_count else "  all:")
        lines.extend(f"    {gap}" for gap in report.gaps.examples)
    if report.stored == 0:
        lines.append("missing:    the exchange has no candles in this range")
    else:
        if report.missing_before and report.first_ts is not None:
            lines.append(
                f"missing:    {report.missing_before} before the first candle "
                f"({report.first_ts:{_ISO_MINUTE}})"
            )
        if report.missing_after and report.last_ts is not None:
            lines.append(
                f"missing:    {report.missing_after} after the last candle "
                f"({report.last_ts:{_ISO_MINUTE}})"
            )
    if report.misaligned:
        lines.append(f"skipped:    {report.misaligned} candles off the {report.timeframe} grid")
    lines.append(f"elapsed:    {elapsed_seconds:.2f} s")
    return "\n".join(lines)
