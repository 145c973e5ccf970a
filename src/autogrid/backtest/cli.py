"""``autogrid backtest``: run a strategy over a candle file and print what it would have done.

    autogrid backtest --data FILE --strategy grid|dca|rsi|macd|bollinger|ma_cross --params JSON
        [--fee 0.001] [--slippage 0] [--cash 10000] [--json] [--trades-csv FILE] [--report FILE]
        [--holdout-fraction 0.3]

``--params`` takes the bot type's config fields (see ``factory``), as JSON or ``@file.json``.
The market rules default to a Binance-like BTC/USDT spot market: price tick 0.01, amount step
0.00000001 (also the minimum amount), no minimum order cost; ``--price-tick``, ``--amount-step``
and ``--min-cost`` change them (a low-priced pair needs a smaller tick). ``--fee`` is both the
maker and the taker fee. The timeframe is the smallest step between candles unless given.
Mistakes (a bad file row, a bad parameter) print one line naming the problem and exit with 2.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
import numpy as np

from autogrid.backtest.engine import BacktestSettings
from autogrid.backtest.factory import INDICATOR_STRATEGIES, bot_type_of, build_strategy
from autogrid.backtest.loader import CandleFileError, infer_timeframe_ms, load_candles
from autogrid.backtest.report import metric_rows, render_report, report_setup
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.backtest.schemas import MAX_HOLDOUT_FRACTION
from autogrid.backtest.signal_walk import run_fast
from autogrid.backtest.trades import iso_utc
from autogrid.exchanges.types import MarketRules
from autogrid.market_data.timeframes import (
    InvalidTimeframe,
    canonical_name,
    ms_to_datetime,
    parse_timeframe,
)
from autogrid.trading.candles import CandleArrays
from autogrid.trading.strategies.base import Strategy, StrategyConfigError

STRATEGIES = ("grid", "dca", *INDICATOR_STRATEGIES)
TRADE_COLUMNS = ("entry_time", "exit_time", "entry_price", "exit_price", "amount", "pnl", "fees")


def decimal_option(
    minimum: Decimal, maximum: Decimal | None = None, *, open_min: bool = False
) -> Callable[[click.Context, click.Parameter, str], Decimal]:
    """An option callback: a decimal from its text (never through a float), within bounds."""

    def convert(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise click.BadParameter(f"{value!r} is not a number", ctx, param) from None
        too_low = number <= minimum if open_min else number < minimum
        if not number.is_finite() or too_low or (maximum is not None and number > maximum):
            bound = f"above {minimum}" if open_min else f"at least {minimum}"
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise click.BadParameter(f"{value} must be {bound}{upper}", ctx, param)
        return number

    return convert


def optional_decimal_option(
    minimum: Decimal, maximum: Decimal
) -> Callable[[click.Context, click.Parameter, str | None], Decimal | None]:
    """``decimal_option`` above ``minimum`` for an option that may be left out."""
    convert = decimal_option(minimum, maximum, open_min=True)

    def maybe(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
        return None if value is None else convert(ctx, param, value)

    return maybe


@click.command("backtest")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Candle file: CSV timestamp,open,high,low,close,volume (ms) or freqtrade JSON; .gz ok.",
)
@click.option("--strategy", required=True, type=click.Choice(STRATEGIES), help="What to run.")
@click.option(
    "--params", "params_text", required=True, help="The bot's config fields as JSON, or @file."
)
@click.option(
    "--fee",
    callback=decimal_option(Decimal(0), Decimal("0.1")),
    default="0.001",
    show_default=True,
    metavar="RATE",
    help="Maker and taker fee, as a fraction (0.001 = 0.1%).",
)
@click.option(
    "--slippage",
    callback=decimal_option(Decimal(0), Decimal("0.1")),
    default="0",
    show_default=True,
    metavar="RATE",
    help="Market orders fill this fraction worse than the next open.",
)
@click.option(
    "--cash",
    callback=decimal_option(Decimal(0), open_min=True),
    default="10000",
    show_default=True,
    metavar="QUOTE",
    help="Starting quote balance.",
)
@click.option("--timeframe", default=None, help="e.g. 1m, 1h [default: inferred from the data]")
@click.option("--symbol", default="BTC/USDT", show_default=True, help="BASE/QUOTE, for the labels.")
@click.option(
    "--price-tick",
    callback=decimal_option(Decimal(0), open_min=True),
    default="0.01",
    show_default=True,
    metavar="PRICE",
    help="Prices round to this (use a smaller tick for low-priced pairs).",
)
@click.option(
    "--amount-step",
    callback=decimal_option(Decimal(0), open_min=True),
    default="0.00000001",
    show_default=True,
    metavar="AMOUNT",
    help="Order amounts round down to this; also the minimum amount.",
)
@click.option(
    "--min-cost",
    callback=decimal_option(Decimal(0)),
    default="0",
    show_default=True,
    metavar="QUOTE",
    help="Smallest order value the market accepts.",
)
@click.option(
    "--holdout-fraction",
    callback=optional_decimal_option(Decimal(0), MAX_HOLDOUT_FRACTION),
    default=None,
    metavar="FRACTION",
    help="Hold the last part of the data out of sample (e.g. 0.3): run both parts from a fresh "
    "account and show their figures side by side.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--trades-csv",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write one row per closed trade; times are the open of the candle each fill was in.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write a self-contained HTML report with charts.",
)
def backtest_command(
    data_path: Path,
    strategy: str,
    params_text: str,
    fee: Decimal,
    slippage: Decimal,
    cash: Decimal,
    timeframe: str | None,
    symbol: str,
    price_tick: Decimal,
    amount_step: Decimal,
    min_cost: Decimal,
    holdout_fraction: Decimal | None,
    as_json: bool,
    trades_csv: Path | None,
    report_path: Path | None,
) -> None:
    """Backtest a strategy on a candle file."""
    market = _market(symbol, price_tick, amount_step, min_cost, fee)
    params = _params(params_text)
    candles = _candles(data_path)
    timeframe_ms = _timeframe_ms(timeframe, candles)
    bot_type, implied = bot_type_of(strategy)
    params = _on_the_file_timeframe(params, timeframe_ms)
    try:
        built = build_strategy(bot_type, {**params, **implied}, market)
    except StrategyConfigError as error:
        raise click.BadParameter(str(error), param_hint="--params") from None
    settings = BacktestSettings(
        market,
        initial_quote=cash,
        maker_fee=fee,
        taker_fee=fee,
        slippage=slippage,
        timeframe_ms=timeframe_ms,
    )
    if holdout_fraction is not None:
        if trades_csv is not None or report_path is not None:
            message = "shows both parts' figures: run without it for a trades CSV or a report"
            raise click.BadParameter(message, param_hint="--holdout-fraction")
        parts = split_candles(candles, holdout_fraction, timeframe_ms)
        _held_out(parts, lambda part: _result(built, part, settings, strategy), as_json)
        return
    result = _result(built, candles, settings, strategy)
    if trades_csv is not None:
        write_trades_csv(result, trades_csv)
    if report_path is not None:
        title = f"Backtest: {strategy} on {symbol}"
        setup = report_setup(
            exchange=f"none: the candle file {data_path.name}",
            config={**params, **implied},
            settings=settings,
            strategy=built,
        )
        report_path.write_text(render_report(result, title, setup), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.summary()))
    else:
        _print_table(result)


def _result(
    built: Strategy[Any], candles: CandleArrays, settings: BacktestSettings, strategy: str
) -> BacktestResult:
    started = time.perf_counter()
    run = run_fast(built, candles, settings)  # the engine's run, walked where exact
    run_seconds = time.perf_counter() - started
    return build_result(run, candles, settings, strategy=strategy, run_seconds=run_seconds)


def split_candles(
    candles: CandleArrays, fraction: Decimal, timeframe_ms: int
) -> tuple[CandleArrays, CandleArrays]:
    """In sample and out of sample: the split is the open ``fraction`` of the span from the end,
    floored to a candle (as a sweep's ``holdout_fraction``); each part needs two candles."""
    first = int(candles.ts_ms[0])
    span_ms = int(candles.ts_ms[-1]) + timeframe_ms - first
    kept_ms = int(span_ms * (1 - fraction))
    split_ms = first + kept_ms // timeframe_ms * timeframe_ms
    split = int(np.searchsorted(candles.ts_ms, split_ms))
    if split < 2 or len(candles) - split < 2:
        message = f"{fraction} leaves fewer than two candles in or out of sample"
        raise click.BadParameter(message, param_hint="--holdout-fraction")
    return candles.window(split, split), candles.window(len(candles), len(candles) - split)


def _held_out(
    parts: tuple[CandleArrays, CandleArrays],
    result_of: Callable[[CandleArrays], BacktestResult],
    as_json: bool,
) -> None:
    inside, outside = (result_of(part) for part in parts)
    split = iso_utc(ms_to_datetime(int(parts[1].ts_ms[0])))
    if as_json:
        summaries = {"in_sample": inside.summary(), "out_of_sample": outside.summary()}
        click.echo(json.dumps({"split": split, **summaries}))
        return
    click.echo(f"in sample before {split}, out of sample from it on:")
    inside_rows, outside_rows = dict(metric_rows(inside)), dict(metric_rows(outside))
    labels = list(dict.fromkeys([*inside_rows, *outside_rows]))
    width = max(len(label) for label in labels)
    column = max(len(value) for value in (*inside_rows.values(), "in sample"))
    click.echo(f"  {'':<{width}}  {'in sample':>{column}}  out of sample")
    for label in labels:
        left, right = inside_rows.get(label, "-"), outside_rows.get(label, "-")
        click.echo(f"  {label:<{width}}  {left:>{column}}  {right}")


def write_trades_csv(result: BacktestResult, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRADE_COLUMNS)
        for trade in result.closed_trades:
            row = trade.to_dict()
            writer.writerow([row[column] for column in TRADE_COLUMNS])


def _print_table(result: BacktestResult) -> None:
    click.echo(
        f"{result.strategy} on {result.symbol} {result.timeframe}: "
        f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC, "
        f"{result.candles:,} candles"
    )
    rows = metric_rows(result)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"  {label:<{width}}  {value}")


def _market(
    symbol: str, tick: Decimal, step: Decimal, min_cost: Decimal, fee: Decimal
) -> MarketRules:
    base, slash, quote = symbol.upper().partition("/")
    if not slash or not base or not quote:
        raise click.BadParameter(f"{symbol!r} is not BASE/QUOTE", param_hint="--symbol")
    return MarketRules(
        symbol=f"{base}/{quote}",
        base=base,
        quote=quote,
        amount_step=step,
        price_tick=tick,
        min_amount=step,
        min_cost=min_cost,
        maker_fee=fee,
        taker_fee=fee,
    )


def _params(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as error:
            message = f"cannot read {text[1:]}: {error}"
            raise click.BadParameter(message, param_hint="--params") from None
    try:
        # Decimals from their text: a price of 0.1 stays exactly 0.1.
        parsed = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not valid JSON: {error}", param_hint="--params") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("expected a JSON object of config fields", param_hint="--params")
    return parsed


def _candles(path: Path) -> CandleArrays:
    try:
        candles = load_candles(path)
    except CandleFileError as error:
        raise click.BadParameter(str(error), param_hint="--data") from None
    if len(candles) < 2:
        message = f"{path}: a backtest needs at least two candles"
        raise click.BadParameter(message, param_hint="--data")
    return candles


def _timeframe_ms(text: str | None, candles: CandleArrays) -> int:
    smallest_step = infer_timeframe_ms(candles.ts_ms)
    if text is None:
        return smallest_step
    try:
        given = parse_timeframe(text).ms
    except InvalidTimeframe as error:
        raise click.BadParameter(str(error), param_hint="--timeframe") from None
    # Shorter is fine (a file with gaps everywhere); longer would make candles overlap.
    if given > smallest_step:
        raise click.BadParameter(
            f"{text} candles would overlap: the data has candles "
            f"{canonical_name(smallest_step)} apart",
            param_hint="--timeframe",
        )
    return given


def _on_the_file_timeframe(params: dict[str, Any], timeframe_ms: int) -> dict[str, Any]:
    """The params, with a DCA start condition's timeframe set to the file's if not given."""
    start = params.get("start_condition")
    if not isinstance(start, dict):
        _check_indicator_timeframe(params.get("timeframe"), timeframe_ms)
        return params
    _check_indicator_timeframe(start.get("timeframe"), timeframe_ms)
    # The start condition needs its candles' length: they are the file's.
    return {**params, "start_condition": {"timeframe": canonical_name(timeframe_ms), **start}}


def _check_indicator_timeframe(wanted: object, timeframe_ms: int) -> None:
    # Indicators run on the file's candles; a different timeframe in the params would mislead.
    if wanted is None:
        return
    try:
        wanted_ms = parse_timeframe(str(wanted)).ms
    except InvalidTimeframe as error:
        raise click.BadParameter(str(error), param_hint="--params") from None
    if wanted_ms != timeframe_ms:
        raise click.BadParameter(
            f"timeframe {wanted} does not match the data's {canonical_name(timeframe_ms)} "
            "candles: drop it or use a file of that timeframe",
            param_hint="--params",
        )
