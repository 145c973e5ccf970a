"""Moving a paper account's clock: every candle since the last look, one at a time, in order.

A replay reads its candles from our own database, so a round is one transaction: lock the
account, read the open orders and the candles after ``matched_until``, match them, move it.

A live source reads over the network, and no lock is held across a network call: a round reads
the candles first, then, under the lock, matches those that closed after the locked
``matched_until``. Since ``matched_until`` only grows, the candles read are a superset of those
still to match; a round that finds an open order on a symbol it did not read (placed meanwhile by
another process) changes nothing and is repeated.

A round matches at most ``candles_per_round`` candles per symbol, so a long gap (a replay at high
speed, a worker that was down) is caught up in several short transactions, never skipped.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges import errors
from autogrid.exchanges.paper import repository
from autogrid.exchanges.paper.clock import first_open_closing_after
from autogrid.exchanges.paper.config import PaperConfig
from autogrid.exchanges.paper.errors import translate_database_errors
from autogrid.exchanges.paper.matching import Execution, match_candle
from autogrid.exchanges.paper.ordering import new_id
from autogrid.exchanges.paper.sources import PriceSource
from autogrid.exchanges.paper.views import trade_row, trade_view
from autogrid.exchanges.types import CandleData, ExchangeTrade, MarketRules
from autogrid.models.paper import PaperAccount, PaperOrder, PriceSourceKind

# Rounds in a row that may end without the clock moving (another process keeps placing orders
# on new symbols) before the caller is told to try again later.
_MAX_STALLED_ROUNDS = 10


class PaperAccountAccess(Protocol):
    """What advancing needs of the paper exchange: its account's transactions and market rules
    (``PaperExchange`` is one; advancing depends on this, not on the exchange class)."""

    @property
    def account_id(self) -> uuid.UUID: ...

    def locked(self) -> AbstractAsyncContextManager[tuple[AsyncSession, PaperAccount]]: ...

    def reading(self, what: str) -> AbstractAsyncContextManager[AsyncSession]: ...

    def missing_account(self) -> errors.FatalExchangeError: ...

    async def load_markets(self) -> dict[str, MarketRules]: ...

    async def market(self, symbol: str) -> MarketRules: ...


class Advancer:
    def __init__(
        self,
        exchange: PaperAccountAccess,
        config: PaperConfig,
        source: PriceSource,
        candles_per_round: int,
    ) -> None:
        if candles_per_round < 1:
            raise ValueError("candles_per_round must be at least 1")
        self._exchange = exchange
        self._config = config
        self._source = source
        self._per_round = candles_per_round

    async def run(self, target: datetime) -> list[ExchangeTrade]:
        await self._exchange.load_markets()  # now, not under the lock (it may ask the exchange)
        if self._source.kind is PriceSourceKind.REPLAY:
            return await self._run_in_transactions(target)
        return await self._run_prefetching(target)

    # ----------------------------------------------------------------------- replay

    async def _run_in_transactions(self, target: datetime) -> list[ExchangeTrade]:
        trades: list[ExchangeTrade] = []
        while True:
            async with (
                translate_database_errors("advance"),
                self._exchange.locked() as (session, account),
            ):
                seen = account.matched_until
                if seen >= target:
                    return trades
                orders = await repository.open_orders(session, account.id)
                symbols = {order.symbol for order in orders}
                window, window_end = await self._read_candles(symbols, seen, target, session)
                trades += await self._match(session, account, orders, window, window_end)

    # ----------------------------------------------------------------------- live

    async def _run_prefetching(self, target: datetime) -> list[ExchangeTrade]:
        trades: list[ExchangeTrade] = []
        stalled = 0
        previous: datetime | None = None
        while True:
            seen, symbols = await self._peek()
            if seen >= target:
                return trades
            stalled = stalled + 1 if seen == previous else 0
            if stalled >= _MAX_STALLED_ROUNDS:
                raise errors.TemporaryExchangeError("paper exchange: advance kept being raced")
            previous = seen
            window, window_end = await self._read_candles(symbols, seen, target, None)
            async with (
                translate_database_errors("advance"),
                self._exchange.locked() as (session, account),
            ):
                if account.matched_until >= window_end:
                    continue  # another process got here first
                orders = await repository.open_orders(session, account.id)
                if {order.symbol for order in orders} - window.keys():
                    continue  # an order on a symbol we did not read: read again
                trades += await self._match(session, account, orders, window, window_end)

    async def _peek(self) -> tuple[datetime, set[str]]:
        async with self._exchange.reading("advance") as session:
            account = await repository.read_account(session, self._exchange.account_id)
            if account is None:
                raise self._exchange.missing_account()
            symbols = await repository.open_order_symbols(session, account.id)
            return account.matched_until, symbols

    # ----------------------------------------------------------------------- both

    async def _read_candles(
        self, symbols: set[str], seen: datetime, target: datetime, session: AsyncSession | None
    ) -> tuple[dict[str, list[CandleData]], datetime]:
        """The candles closing in (seen, window_end], per symbol; window_end <= target is where
        a symbol's round limit cut its candles short."""
        step = self._config.step
        window: dict[str, list[CandleData]] = {}
        window_end = target
        async with translate_database_errors("advance"):
            for symbol in sorted(symbols):
                candles = await self._source.closed_candles(
                    symbol,
                    self._config.timeframe,
                    opened_from=first_open_closing_after(seen, step),
                    closed_by=target,
                    limit=self._per_round,
                    session=session,
                )
                window[symbol] = candles
                if len(candles) == self._per_round:
                    window_end = min(window_end, candles[-1].ts + step)
        return window, window_end

    async def _match(
        self,
        session: AsyncSession,
        account: PaperAccount,
        orders: list[PaperOrder],
        window: dict[str, list[CandleData]],
        window_end: datetime,
    ) -> list[ExchangeTrade]:
        """Match the window's candles closing after ``matched_until``, in time order (symbols
        in name order within one close time), and move ``matched_until`` to ``window_end``."""
        config, start = self._config, account.matched_until
        rules: dict[str, MarketRules] = {
            symbol: await self._exchange.market(symbol) for symbol in window
        }
        events = sorted(
            (
                (candle.ts + config.step, symbol, candle)
                for symbol, candles in window.items()
                for candle in candles
                if start < candle.ts + config.step <= window_end
            ),
            key=lambda event: (event[0], event[1]),
        )
        account.matched_until = window_end
        if not events:
            return []
        rows = await repository.load_balances(session, account.id)
        wallet = config.wallet({c: (row.free, row.locked) for c, row in rows.items()})
        executions: list[Execution] = []
        for closed_at, symbol, candle in events:
            executions += match_candle(
                wallet, orders, rules[symbol], candle, closed_at, config.slippage
            )
        trade_rows = [trade_row(execution, new_id()) for execution in executions]
        repository.add_trades(session, trade_rows)
        repository.store_balances(
            session, account.id, rows, {c: wallet.balances[c] for c in wallet.touched}
        )
        return [
            trade_view(row, execution.order)
            for row, execution in zip(trade_rows, executions, strict=True)
        ]
