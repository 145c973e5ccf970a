"""``PaperExchange``: the ``ExchangeConnector`` interface over simulated, persisted accounts.

Like a remote exchange, every call is its own transaction, committed independently of whatever
the caller is doing, and every state change holds the account's row lock (repository.py), so
several worker processes can share an account without corrupting its balances.

Time. The exchange's "now" is ``matched_until``: every candle that closed by then has been matched
against the resting orders. Only ``advance()`` moves it, never past what the price source has
reached (the replay clock, or the wall clock for live prices). Orders placed at "now" rest from
the next candle; a market order fills at that candle's open plus slippage (replay) or at once at
the live ticker (live). A fill matched against a candle settles at its close (the trade's ``ts``,
as the backtest engine stamps it) and names its open as ``executed_at``, when the price was
there. Reads answer as of "now" too: in a replay ``fetch_ticker`` is the close of the last
matched candle and ``fetch_ohlcv`` never returns a candle closing later, so a strategy deciding
at a candle close sees what the backtest shows it. The bot runtime steps exactly like the
backtest engine::

    for close in await paper.visible_candle_closes(symbol):
        trades = await paper.advance(up_to=close)   # the candle closing at `close`, matched
        ...decide with the price at `close` and these trades; place/cancel orders...
    wake_at = await paper.wall_time_of(await paper.next_candle_close(symbol))

Fills use ``match_bar`` and balances ``SimAccount`` (matching.py), so replaying candles gives the
backtest's trades exactly. Fees are charged in the quote currency, as in the backtest.

Exchange-like answers, the same as the ccxt connector's (the contract suite runs both):
an order breaking the market's limits raises ``OrderRejected``, one the account cannot pay for
``InsufficientFunds``; a request that was not prepared is rounded as ccxt rounds it (amount down
to the step, price to the nearest tick). A client order id in use by an OPEN order raises
``DuplicateClientOrderId`` (Binance's -2010, which the order manager resolves by client id); once
that order is closed the id is accepted again. Cancelling an order that is not open returns None
(Binance's -2011). ``fetch_order`` by client id finds the newest order with it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.exchanges import errors
from autogrid.exchanges.paper import repository
from autogrid.exchanges.paper.account_markets import AccountMarkets
from autogrid.exchanges.paper.advance import Advancer
from autogrid.exchanges.paper.clock import first_open_closing_after
from autogrid.exchanges.paper.config import PaperConfig
from autogrid.exchanges.paper.errors import NoPriceYet, translate_database_errors
from autogrid.exchanges.paper.placing import cancel_open_order, place_order
from autogrid.exchanges.paper.sources import PriceSource
from autogrid.exchanges.paper.views import balance_view, order_view, trade_view
from autogrid.exchanges.retry import RetryPolicy
from autogrid.exchanges.types import (
    Balance,
    CandleData,
    ExchangeOrder,
    ExchangeTrade,
    MarketRules,
    OrderBook,
    OrderRequest,
    Ticker,
)
from autogrid.market_data.timeframes import datetime_to_ms, ms_to_datetime, parse_timeframe
from autogrid.models.paper import PaperAccount, PriceSourceKind

# Live 1m candles are matched a few seconds after they close: the exchange needs a moment to
# publish the last trades of the minute.
LIVE_SETTLE_DELAY = timedelta(seconds=5)
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)
_BOOK_DEPTH = Decimal(1_000_000_000)  # paper liquidity is unlimited at the last price


class PaperExchange:
    """One paper account. ``exchange_id`` is the simulated exchange's (e.g. "binance")."""

    def __init__(
        self,
        database: Database,
        account_id: uuid.UUID,
        price_source: PriceSource,
        market_rules: Mapping[str, MarketRules] | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        candles_per_round: int = 1000,
    ) -> None:
        """``market_rules`` overrides the rules lookup (see markets.py); ``clock`` is the wall
        clock; ``candles_per_round`` bounds the candles matched per transaction."""
        self.exchange_id = price_source.exchange_id
        self.account_id = account_id
        self._database = database
        # Replay: the close of a stored candle seen beyond the replay clock, per symbol.
        self._stored_ahead: dict[str, datetime] = {}
        self._source = price_source
        self._clock = clock
        self._candles_per_round = candles_per_round
        self._config: PaperConfig | None = None
        self._markets = AccountMarkets(self.exchange_id, price_source, market_rules)

    def missing_account(self) -> errors.FatalExchangeError:
        return errors.FatalExchangeError(f"paper account {self.account_id} does not exist")

    def __repr__(self) -> str:
        return f"PaperExchange({self.exchange_id!r}, account={self.account_id})"

    # ----------------------------------------------------------------------- plumbing

    async def config(self) -> PaperConfig:
        if self._config is None:
            async with self.reading("read the account") as session:
                account = await repository.read_account(session, self.account_id)
            if account is None:
                raise self.missing_account()
            if account.price_source != self._source.kind or account.exchange != self.exchange_id:
                raise errors.FatalExchangeError(
                    f"paper account {self.account_id} replays {account.price_source} "
                    f"{account.exchange} prices, not {self._source.kind} {self.exchange_id}"
                )
            self._config = PaperConfig(account)
        return self._config

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[tuple[AsyncSession, PaperAccount]]:
        """One transaction holding the account's lock (commits when the block succeeds)."""
        async with self._database.session_scope() as session:
            account = await repository.lock_account(session, self.account_id)
            if account is None:
                raise self.missing_account()
            yield session, account

    @asynccontextmanager
    async def reading(self, what: str) -> AsyncIterator[AsyncSession]:
        async with translate_database_errors(what), self._database.session_scope() as session:
            yield session

    async def matched_until(self) -> datetime:
        """The exchange's "now": candles closed by then are matched, later ones are not."""
        async with self.reading("read the account") as session:
            account = await repository.read_account(session, self.account_id)
        if account is None:
            raise self.missing_account()
        return account.matched_until

    async def market_time(self) -> datetime:
        """How far the price source has got: the replay clock, or (live) the wall clock less
        the moment candles need to settle. ``advance()`` never goes past it."""
        config = await self.config()
        if config.replay is not None:
            return config.replay.at(self._clock())
        return self._clock() - LIVE_SETTLE_DELAY

    async def wall_time_of(self, moment: datetime) -> datetime:
        """When the wall clock lets the exchange reach ``moment`` (for scheduling a wake-up)."""
        config = await self.config()
        if config.replay is None:
            return moment + LIVE_SETTLE_DELAY
        return config.replay.wall_time_of(moment)

    @asynccontextmanager
    async def at_exchange_now(
        self, what: str
    ) -> AsyncIterator[tuple[AsyncSession | None, datetime]]:
        """The exchange's "now" (replay: ``matched_until``; live: the wall clock) and, for a
        replay, the open read transaction to read candles in."""
        config = await self.config()
        if config.kind is PriceSourceKind.LIVE:
            yield None, self._clock()
            return
        async with self.reading(what) as session:
            account = await repository.read_account(session, self.account_id)
            if account is None:
                raise self.missing_account()
            yield session, account.matched_until

    # ----------------------------------------------------------------------- stepping

    async def advance(self, up_to: datetime | None = None) -> list[ExchangeTrade]:
        """Match resting orders against every candle closing after ``matched_until`` and by
        ``min(up_to, market_time())``, one candle at a time and in order; return the trades.

        A long catch-up commits in rounds: if a later round fails (TemporaryExchangeError),
        the trades of the rounds before it are stored and ``fetch_my_trades`` returns them.
        """
        config = await self.config()
        target = await self.market_time()
        if up_to is not None:
            target = min(target, up_to)
        return await Advancer(self, config, self._source, self._candles_per_round).run(target)

    async def next_candle_close(self, symbol: str) -> datetime | None:
        """Close time of the first candle after ``matched_until`` (replay: None when the stored
        candles end; it may still be in the replay's future: see ``wall_time_of``)."""
        config = await self.config()
        after = await self.matched_until()
        if config.kind is PriceSourceKind.LIVE:
            frame = parse_timeframe(config.timeframe)
            return ms_to_datetime(frame.floor(datetime_to_ms(after)) + frame.ms)
        candles = await self._source.closed_candles(
            symbol,
            config.timeframe,
            opened_from=first_open_closing_after(after, config.step),
            closed_by=_FAR_FUTURE,
            limit=1,
        )
        return candles[0].ts + config.step if candles else None

    async def replay_has_more(self, symbol: str) -> bool:
        """Whether a stored candle is still to be revealed, when none is revealed now.

        A candle once seen beyond the replay clock stays ahead of it until the clock gets
        there, so the candle query runs about once per candle, not on every quiet tick.
        """
        ahead = self._stored_ahead.get(symbol)
        if ahead is not None and ahead > await self.market_time():
            return True
        following = await self.next_candle_close(symbol)
        if following is None:
            self._stored_ahead.pop(symbol, None)
            return False
        self._stored_ahead[symbol] = following
        return True

    def next_stored_close(self, symbol: str) -> datetime | None:
        """The close of the next stored candle as ``replay_has_more`` last found it: none is
        revealed before then (a gap in the stored candles), if known."""
        return self._stored_ahead.get(symbol)

    async def visible_candle_closes(self, symbol: str, limit: int = 500) -> list[datetime]:
        """Close times of the candles ``advance()`` can match now, oldest first."""
        config = await self.config()
        candles = await self._source.closed_candles(
            symbol,
            config.timeframe,
            opened_from=first_open_closing_after(await self.matched_until(), config.step),
            closed_by=await self.market_time(),
            limit=limit,
        )
        return [candle.ts + config.step for candle in candles]

    # ----------------------------------------------------------------------- market data

    async def load_markets(
        self, *, reload: bool = False, retry: RetryPolicy | None = None
    ) -> dict[str, MarketRules]:
        # ``retry`` is for the network; the price source behind a paper account keeps its own.
        loaded = self._markets.loaded
        if loaded is not None and not reload:
            return loaded
        return await self._markets.load(await self.config())

    async def market(self, symbol: str) -> MarketRules:
        markets = await self.load_markets()
        if symbol in markets:
            return markets[symbol]
        return self._markets.unlisted(symbol, await self.config())

    async def fetch_ticker(self, symbol: str) -> Ticker:
        """Replay: the close of the last candle matched, stamped with its close time."""
        config = await self.config()
        async with self.at_exchange_now("fetch_ticker") as (session, now):
            ticker = await self._source.last_price(symbol, config.timeframe, now, session=session)
        if ticker is None:
            raise NoPriceYet(f"paper exchange: no {symbol} price yet")
        return ticker

    async def fetch_order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        book = await self._source.order_book(symbol, limit)
        if book is not None:
            return book
        ticker = await self.fetch_ticker(symbol)
        level = ((ticker.last, _BOOK_DEPTH),)
        return OrderBook(symbol=symbol, bids=level, asks=level, ts=ticker.ts)

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 500
    ) -> list[CandleData]:
        """Closed candles only, and (replay) none after ``matched_until``: never the future."""
        async with self.at_exchange_now("fetch_ohlcv") as (session, now):
            return await self._source.closed_candles(
                symbol, timeframe, opened_from=since, closed_by=now, limit=limit, session=session
            )

    # ----------------------------------------------------------------------- account

    async def fetch_balance(self) -> dict[str, Balance]:
        """Currencies with a non-zero total, like the ccxt connector."""
        await self.config()  # the account exists and is priced by this source
        async with self.reading("fetch_balance") as session:
            rows = await repository.load_balances(session, self.account_id)
        return {
            currency: balance_view(row)
            for currency, row in sorted(rows.items())
            if row.free or row.locked
        }

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        config = await self.config()
        rules = await self.market(request.symbol)
        live = config.kind is PriceSourceKind.LIVE
        ticker = None
        if live:  # read before taking the lock: no lock is held across the network
            ticker = await self._source.last_price(request.symbol, config.timeframe, self._clock())
        async with (
            translate_database_errors("create_order", changes_orders=True),
            self.locked() as (session, account),
        ):
            now = self._clock() if live else account.matched_until
            if not live:
                ticker = await self._source.last_price(
                    request.symbol, config.timeframe, now, session=session
                )
            order = await place_order(session, account, config, rules, request, ticker, now)
            return order_view(order)

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        """The canceled order, or None when no OPEN order has that id (closed, or unknown)."""
        if not exchange_order_id and not client_order_id:
            raise ValueError("give exchange_order_id or client_order_id")
        config = await self.config()
        rules = await self.market(symbol)
        async with (
            translate_database_errors("cancel_order", changes_orders=True),
            self.locked() as (session, account),
        ):
            order = await cancel_open_order(
                session,
                account,
                config,
                rules,
                exchange_order_id=exchange_order_id or None,
                client_order_id=client_order_id,
            )
            return order_view(order) if order is not None else None

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder | None:
        if not exchange_order_id and not client_order_id:
            raise ValueError("give exchange_order_id or client_order_id")
        await self.config()
        async with self.reading("fetch_order") as session:
            order = await repository.find_order(
                session,
                self.account_id,
                symbol,
                exchange_order_id=exchange_order_id or None,
                client_order_id=client_order_id,
            )
            return order_view(order) if order is not None else None

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        await self.config()
        async with self.reading("fetch_open_orders") as session:
            orders = await repository.open_orders(session, self.account_id, symbol)
            return [order_view(order) for order in orders]

    async def fetch_my_trades(
        self, symbol: str, since: datetime | None = None, limit: int = 500
    ) -> list[ExchangeTrade]:
        await self.config()
        async with self.reading("fetch_my_trades") as session:
            rows = await repository.trades(session, self.account_id, symbol, since, limit)
            return [trade_view(trade, order) for trade, order in rows]

    async def fetch_order_trades(
        self, symbol: str, exchange_order_id: str
    ) -> list[ExchangeTrade] | None:
        """The order's trades, oldest first ([] for an order without any, or unknown)."""
        await self.config()
        async with self.reading("fetch_order_trades") as session:
            rows = await repository.order_trades(
                session, self.account_id, symbol, exchange_order_id
            )
            return [trade_view(trade, order) for trade, order in rows]

    async def close(self) -> None:
        """Nothing to release: the database and the price source belong to the caller."""
