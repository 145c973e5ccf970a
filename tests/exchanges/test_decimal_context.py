"""ccxt rewrites the decimal context when it rounds; the connector must keep that to itself."""

from __future__ import annotations

import decimal
from decimal import Decimal as D

from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.exchanges.types import OrderRequest, OrderType, Side


async def test_connector_calls_leave_the_process_decimal_context_alone(
    connector: CcxtConnector,
) -> None:
    # Start from Python's defaults: other tests drive raw ccxt, which rewrites the context.
    decimal.setcontext(decimal.Context())
    before = decimal.getcontext().copy()
    request = OrderRequest(
        "BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.001"), D("10000.005"), "ag-decimal-context-1"
    )
    await connector.create_order(request)  # ccxt rounds amount and price on the way out
    after = decimal.getcontext()
    assert after.rounding == before.rounding == decimal.ROUND_HALF_EVEN
    assert after.traps[decimal.Underflow] == before.traps[decimal.Underflow]
    assert after.prec == before.prec
