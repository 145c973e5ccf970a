"""``autogrid backtest-signals``: replay a stored list of signals over a candle file.

    autogrid backtest-signals --data FILE --signals FILE [--cash 10000] [--fee 0.001]
        [--default-quote Q | --default-pct P] [--zone-orders 3] [--json]

``--signals`` is a JSON array (or JSON lines) of ``{"at": ISO time, "body": text or object}``;
each body is parsed by the signal grammar (an object is sent as its JSON text, as a webhook
would). The market options are ``autogrid backtest``'s. Every signal is listed with what became
of it: acted on (at which candle), refused (why), or outside the data.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from autogrid.backtest.cli import _candles, _market, _timeframe_ms, decimal_option
from autogrid.backtest.engine import BacktestSettings
from autogrid.backtest.signal_replay import (
    ReplayResult,
    ReplaySignal,
    SignalListError,
    replay_signals,
)
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.signal_bot import SignalBotConfig


def read_signal_file(path: Path) -> list[ReplaySignal]:
    """The file's signals; raises ``click.BadParameter`` naming the entry at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error}", param_hint="--signals") from None
    try:
        stripped = text.lstrip()
        if stripped.startswith("["):
            entries = json.loads(text)
        else:
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not valid JSON: {error}", param_hint="--signals") from None
    return [_entry(index, entry) for index, entry in enumerate(entries)]


def _entry(index: int, entry: Any) -> ReplaySignal:
    hint = "--signals"
    if not isinstance(entry, dict) or "at" not in entry or "body" not in entry:
        raise click.BadParameter(
            f"entry {index}: expected {{'at': ..., 'body': ...}}", param_hint=hint
        )
    try:
        at = datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"entry {index}: 'at' is not an ISO time", param_hint=hint
        ) from None
    if at.tzinfo is None:
        raise click.BadParameter(f"entry {index}: 'at' needs a timezone (e.g. Z)", param_hint=hint)
    body = entry["body"]
    return ReplaySignal(at, body if isinstance(body, str) else json.dumps(body))


def replay_summary(result: ReplayResult) -> dict[str, Any]:
    return {
        "fills": [
            {
                "candle": f.index,
                "time": f.ts.isoformat(),
                "tag": f.tag,
                "side": f.side.value,
                "price": str(f.price),
                "amount": str(f.amount),
                "fee": str(f.fee),
            }
            for f in result.run.fills
        ],
        "signals": [
            {
                "signal": o.ref,
                "decided_at": o.at.isoformat(),
                "action": o.action,
                "accepted": o.accepted,
                "reason": o.reason,
                "orders": list(o.tags),
                "fill_candle": result.delivered.get(o.ref),
            }
            for o in result.outcomes
        ],
        "before_start": list(result.before_start),
        "after_end": list(result.after_end),
        "realized_pnl": str(result.realized_pnl),
        "final_quote": str(result.run.final_quote),
        "final_base": str(result.run.final_base),
        "final_equity": str(result.final_equity),
        "fees": str(result.run.fees),
    }


@click.command("backtest-signals")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Candle file.",
)
@click.option(
    "--signals",
    "signals_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON array or JSON lines of {at, body}.",
)
@click.option("--cash", callback=decimal_option(Decimal(0), open_min=True), default="10000")
@click.option("--fee", callback=decimal_option(Decimal(0), Decimal("0.1")), default="0.001")
@click.option("--symbol", default="BTC/USDT", show_default=True)
@click.option("--price-tick", callback=decimal_option(Decimal(0), open_min=True), default="0.01")
@click.option(
    "--amount-step", callback=decimal_option(Decimal(0), open_min=True), default="0.00000001"
)
@click.option("--min-cost", callback=decimal_option(Decimal(0)), default="0")
@click.option("--timeframe", default=None, help="e.g. 1m, 1h [default: inferred from the data]")
@click.option("--default-quote", default=None, help="Quote a buy without an amount spends.")
@click.option(
    "--default-pct", default="10", show_default=True, help="...else this % of free quote."
)
@click.option("--zone-orders", default=3, show_default=True, help="Limit buys per entry zone.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def signal_backtest_command(
    data_path: Path,
    signals_path: Path,
    cash: Decimal,
    fee: Decimal,
    symbol: str,
    price_tick: Decimal,
    amount_step: Decimal,
    min_cost: Decimal,
    timeframe: str | None,
    default_quote: str | None,
    default_pct: str,
    zone_orders: int,
    as_json: bool,
) -> None:
    """Replay a list of signals over a candle file with the signal bot."""
    market = _market(symbol, price_tick, amount_step, min_cost, fee)
    candles = _candles(data_path)
    settings = BacktestSettings(
        market,
        initial_quote=cash,
        maker_fee=fee,
        taker_fee=fee,
        timeframe_ms=_timeframe_ms(timeframe, candles),
    )
    items = read_signal_file(signals_path)
    try:
        quote = None if default_quote is None else Decimal(default_quote)
        config = SignalBotConfig(quote, Decimal(default_pct), zone_orders)
        result = replay_signals(items, candles, settings, config)
    except (StrategyConfigError, ArithmeticError) as error:
        raise click.BadParameter(str(error)) from None
    except SignalListError as error:
        raise click.BadParameter(str(error), param_hint="--signals") from None
    summary = replay_summary(result)
    if as_json:
        click.echo(json.dumps(summary))
        return
    for row in summary["signals"]:
        state = "ok" if row["accepted"] else "refused"
        click.echo(f"signal {row['signal']:>3}  {row['action']:<10} {state:<8} {row['reason']}")
    for name in ("before_start", "after_end"):
        if summary[name]:
            click.echo(f"{name.replace('_', ' ')}: signals {summary[name]} (not replayed)")
    click.echo(f"fills: {len(summary['fills'])}  fees: {summary['fees']}")
    click.echo(f"realized P&L: {summary['realized_pnl']}  final equity: {summary['final_equity']}")
