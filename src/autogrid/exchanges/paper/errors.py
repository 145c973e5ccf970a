"""Database trouble in a paper call, said the way a remote exchange's trouble is said.

The connector contract promises only ``autogrid.exchanges.errors``: a lost connection is a
temporary error on a read, and an unknown outcome on a create or cancel (its commit may have
happened: the caller resolves it by client order id, as for a real exchange). The unique index
on open client order ids can only be broken by two creates racing with one id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError

from autogrid.exchanges import errors


class NoPriceYet(errors.OrderRejected):
    """A replay that has not matched its first candle yet has no price to quote."""


@asynccontextmanager
async def translate_database_errors(
    what: str, *, changes_orders: bool = False
) -> AsyncIterator[None]:
    try:
        yield
    except IntegrityError as error:
        if changes_orders and "client_order_id" in str(error.orig):
            raise errors.DuplicateClientOrderId(
                f"paper exchange {what}: the client order id is used by an open order"
            ) from None
        # e.g. the account was deleted meanwhile: nothing was written, and retrying cannot help
        raise errors.FatalExchangeError(
            f"paper exchange {what}: {type(error.orig).__name__}"
        ) from None
    except (DBAPIError, OSError, TimeoutError) as error:
        message = f"paper exchange {what}: database unavailable ({type(error).__name__})"
        if changes_orders:
            raise errors.OrderOutcomeUnknown(message) from None
        raise errors.TemporaryExchangeError(message) from None
