"""Trades as CSV, for spreadsheets and accounting tools (pure)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from autogrid.bots.fields import plain_decimal
from autogrid.models import Fill

CSV_COLUMNS = (
    "time",
    "symbol",
    "side",
    "price",
    "amount",
    "cost",
    "fee",
    "fee_currency",
    "is_maker",
    "trade_id",
    "order_id",
)


def _cell(text: str | None) -> str:
    # Text from an exchange starting with = + - @ would be run as a formula by a spreadsheet.
    if not text:
        return ""
    return f"'{text}" if text[0] in "=+-@\t\r" else text


def fills_csv(symbol: str, fills: Iterable[Fill]) -> str:
    """A header row, then one row per fill; times in ISO 8601 UTC, decimals exact. ``time`` is
    when the trade's price was there (``Fill.traded_at``: a paper candle match's open)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for fill in fills:
        writer.writerow(
            (
                fill.traded_at.isoformat().replace("+00:00", "Z"),
                symbol,
                fill.side,
                f"{fill.price:f}",
                f"{fill.amount:f}",
                f"{plain_decimal(fill.price * fill.amount):f}",
                f"{fill.fee:f}",
                _cell(fill.fee_currency),
                "" if fill.is_maker is None else str(fill.is_maker).lower(),
                _cell(fill.trade_id),
                str(fill.order_id),
            )
        )
    return buffer.getvalue()
