"""The fallback for an exchange that cannot list one order's trades: a bounded scan of the
symbol's trade history that remembers, per order, where it got to (``orders.trades_scanned_to``).

Each call reads at most ``SCAN_PAGES`` pages, so a busy account (other bots or a human on the same
key) costs a few requests per tick, and the next call goes on from there instead of starting over
at the order's submission, so the scan gets through any backlog.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from autogrid.exchanges import errors
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.types import ExchangeTrade
from autogrid.models import Order

logger = logging.getLogger(__name__)

SCAN_PAGE = 500
SCAN_PAGES = 4
_CLOCK_MARGIN = timedelta(minutes=1)  # our clock (submitted_at) against the exchange's
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Scanned:
    trades: list[ExchangeTrade]
    # Where the next scan starts (inclusive); None when nothing was learned.
    scanned_to: datetime | None


def scan_start(order: Order) -> datetime:
    """Where the scan for ``order`` goes on: its cursor, else just before it was sent."""
    if order.trades_scanned_to is not None:
        return order.trades_scanned_to
    return (order.submitted_at or order.created_at) - _CLOCK_MARGIN


async def scan_history(
    connector: ExchangeConnector, symbol: str, since: datetime | None
) -> Scanned:
    """At most ``SCAN_PAGES`` pages of the symbol's trades from ``since`` on. Without ``since``
    (a replay, whose trade times are not our clock's) only the latest page. An exchange error
    ends the scan with what the pages before it gave."""
    seen: dict[str, ExchangeTrade] = {}
    reached = since
    for _ in range(SCAN_PAGES):
        try:
            page = await connector.fetch_my_trades(symbol, since, SCAN_PAGE)
        except errors.ExchangeError as error:
            logger.info("trade history of %s unavailable: %s", symbol, error)
            break
        fresh = [t for t in page if t.trade_id not in seen]
        seen.update((t.trade_id, t) for t in fresh)
        if reached is None:  # no start: the latest page is all there is to read
            break
        reached = max([reached, *(t.ts for t in page)])
        if len(page) < SCAN_PAGE:
            break  # the end of the history: the next scan starts at its last trade
        if not fresh:
            # A whole page at one instant, all seen: step past it rather than loop forever.
            logger.warning("%s: over %d trades at %s, stepped past", symbol, SCAN_PAGE, since)
            reached += _ONE_MS
        since = reached
    return Scanned(list(seen.values()), reached)
