"""Opening a paper account: its starting balances, fees and price source, in the caller's session.

``create_paper_account`` only flushes; the caller's unit of work commits it together with whatever
refers to it (a bot), as every service here does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.paper.sources import LIVE_TIMEFRAME
from autogrid.market_data.timeframes import (
    datetime_to_ms,
    ms_to_datetime,
    parse_timeframe,
)
from autogrid.models.paper import PaperAccount, PaperBalance, PriceSourceKind

DEFAULT_FEE = Decimal("0.001")  # Binance's spot fee without discounts
MAX_CURRENCY_LENGTH = 16


def _decimal(value: Decimal | str | int, what: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal or a decimal string, not a float")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be finite, got {number}")
    return number


def _rate(value: Decimal | str, what: str) -> Decimal:
    rate = _decimal(value, what)
    if not 0 <= rate < 1:
        raise ValueError(f"{what} must be at least 0 and below 1, got {rate}")
    return rate


async def create_paper_account(
    session: AsyncSession,
    *,
    label: str,
    exchange: str,
    balances: Mapping[str, Decimal | str | int],
    price_source: PriceSourceKind,
    owner_id: uuid.UUID | None = None,
    maker_fee: Decimal | str = DEFAULT_FEE,
    taker_fee: Decimal | str = DEFAULT_FEE,
    slippage: Decimal | str = Decimal(0),
    timeframe: str = LIVE_TIMEFRAME,
    replay_start: datetime | None = None,
    replay_speed: Decimal | str = Decimal(1),
    now: datetime | None = None,
) -> PaperAccount:
    """A new account holding ``balances`` (e.g. ``{"USDT": "10000"}``), free and unlocked.

    Replay: the clock starts at ``replay_start`` (rounded down to a candle boundary of
    ``timeframe``; candles closed by then are history, visible but never matched) and runs
    ``replay_speed`` times faster than the wall clock from ``now``. Live: candles are 1m and the
    clock starts at ``now``. Raises ``ValueError`` on a bad value (the API's 422).
    """
    now = now or utcnow()
    kind = PriceSourceKind(price_source)
    account = PaperAccount(
        id=uuid.uuid4(),
        user_id=owner_id,
        label=label,
        exchange=exchange,
        maker_fee=_rate(maker_fee, "maker_fee"),
        taker_fee=_rate(taker_fee, "taker_fee"),
        slippage=_rate(slippage, "slippage"),
        price_source=kind.value,
    )
    if kind is PriceSourceKind.REPLAY:
        if replay_start is None:
            raise ValueError("a replay account needs replay_start")
        frame = parse_timeframe(timeframe)
        speed = _decimal(replay_speed, "replay_speed")
        if speed <= 0:
            raise ValueError(f"replay_speed must be positive, got {speed}")
        start = ms_to_datetime(frame.floor(datetime_to_ms(replay_start)))
        account.timeframe = frame.name
        account.replay_start, account.replay_anchor, account.replay_speed = start, now, speed
        account.matched_until = start
    else:
        account.timeframe = LIVE_TIMEFRAME
        account.matched_until = now
    session.add(account)
    await session.flush()  # the balances refer to it
    for currency, amount in balances.items():
        if not currency or len(currency) > MAX_CURRENCY_LENGTH or currency != currency.strip():
            raise ValueError(f"currency {currency!r} is not a valid currency code")
        value = _decimal(amount, f"{currency} balance")
        if value < 0:
            raise ValueError(f"{currency} balance must not be negative, got {value}")
        session.add(PaperBalance(account_id=account.id, currency=currency, free=value, locked=0))
    await session.flush()
    return account
