"""Placing and cancelling one paper order, inside the transaction that holds the account lock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges import errors
from autogrid.exchanges.paper import repository
from autogrid.exchanges.paper.config import PaperConfig
from autogrid.exchanges.paper.matching import fill_at_price, sim_order
from autogrid.exchanges.paper.ordering import checked_request, live_fill_price, new_id
from autogrid.exchanges.paper.views import trade_row
from autogrid.exchanges.types import (
    ExchangeOrderStatus,
    MarketRules,
    OrderRequest,
    OrderType,
    Ticker,
)
from autogrid.models.paper import PaperAccount, PaperOrder, PriceSourceKind
from autogrid.trading.simulation.account import InsufficientBalance

ZERO = Decimal(0)


async def place_order(
    session: AsyncSession,
    account: PaperAccount,
    config: PaperConfig,
    rules: MarketRules,
    request: OrderRequest,
    ticker: Ticker | None,
    now: datetime,
) -> PaperOrder:
    """Check, lock the funds, store; a market order on live prices also fills at once.

    ``ticker`` is the price at ``now`` (the replay's last close, or the live ticker): it values a
    market order for the minimum-cost check and for the lock, exactly as the backtest does.
    """
    live_market = config.kind is PriceSourceKind.LIVE and request.type is OrderType.MARKET
    reference = ticker.last if ticker is not None else None
    if live_market and ticker is not None:
        reference = live_fill_price(ticker, request.side, config.slippage)
    # Refused where the exchange would refuse it, rounded where ccxt would round it.
    request = checked_request(rules, request, reference)
    if await repository.client_id_in_use(session, account.id, request.client_order_id):
        raise errors.DuplicateClientOrderId(
            f"paper exchange: client order id {request.client_order_id} is already used by an "
            "open order"
        )
    order = PaperOrder(
        account_id=account.id,
        client_order_id=request.client_order_id,
        exchange_order_id=new_id(),
        symbol=request.symbol,
        side=request.side.value,
        type=request.type.value,
        price=request.price,
        amount=request.amount,
        filled=ZERO,
        status=ExchangeOrderStatus.OPEN.value,
        locked=ZERO,
        fee=ZERO,
        placed_at=now,
    )
    rows = await repository.load_balances(session, account.id)
    wallet = config.wallet({c: (row.free, row.locked) for c, row in rows.items()})
    lock_price = request.price if request.price is not None else reference
    assert lock_price is not None  # checked_request refused a market order without a price
    try:
        order.locked = wallet.lock(rules, sim_order(order), lock_price)
    except InsufficientBalance as error:
        raise errors.InsufficientFunds(f"paper exchange: {error}") from None
    await repository.add_order(session, order)
    if live_market:
        execution = fill_at_price(wallet, order, rules, lock_price, now)
        if execution is not None:
            repository.add_trades(session, [trade_row(execution, new_id())])
    repository.store_balances(
        session, account.id, rows, {c: wallet.balances[c] for c in wallet.touched}
    )
    return order


async def cancel_open_order(
    session: AsyncSession,
    account: PaperAccount,
    config: PaperConfig,
    rules: MarketRules,
    *,
    exchange_order_id: str | None,
    client_order_id: str | None,
) -> PaperOrder | None:
    """Cancel the OPEN order with that id and free what it locked; None if none is open."""
    order = await repository.find_order(
        session,
        account.id,
        rules.symbol,
        exchange_order_id=exchange_order_id,
        client_order_id=client_order_id,
        open_only=True,
    )
    if order is None:
        return None
    rows = await repository.load_balances(session, account.id)
    wallet = config.wallet({c: (row.free, row.locked) for c, row in rows.items()})
    wallet.release(rules, sim_order(order), order.locked)
    order.locked = ZERO
    order.status = ExchangeOrderStatus.CANCELED.value
    repository.store_balances(
        session, account.id, rows, {c: wallet.balances[c] for c in wallet.touched}
    )
    return order
