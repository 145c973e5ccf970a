"""Loading both records: the simulator's (its control API) and ours (the run's database, read
with plain SQL so the audit does not depend on the code it checks)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from tests.exchange_sim import SimulatorClient

from chaoskit.audit import (
    ExchangeOrder,
    ExchangeTrade,
    OurBot,
    OurEvent,
    OurFill,
    OurOrder,
    Records,
)

STOP_REQUESTED = "stop_requested"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def total_balances(raw: Mapping[str, Mapping[str, str]]) -> dict[str, Decimal]:
    return {asset: Decimal(b["free"]) + Decimal(b["locked"]) for asset, b in raw.items()}


def exchange_side(
    sim: SimulatorClient, api_keys: list[str]
) -> tuple[list[ExchangeOrder], list[ExchangeTrade], dict[str, dict[str, Decimal]]]:
    orders: list[ExchangeOrder] = []
    trades: list[ExchangeTrade] = []
    balances: dict[str, dict[str, Decimal]] = {}
    for api_key in api_keys:
        orders += [
            ExchangeOrder(
                order_id=int(o["orderId"]),
                client_order_id=str(o["clientOrderId"]),
                api_key=api_key,
                status=str(o["status"]),
                side=str(o["side"]).lower(),
                time_ms=int(o["time"]),
                update_time_ms=int(o["updateTime"]),
                created_seq=int(o["createdSeq"]),
                ended_seq=None if o["endedSeq"] is None else int(o["endedSeq"]),
            )
            for o in sim.orders(api_key=api_key)
        ]
        trades += [
            ExchangeTrade(
                trade_id=int(t["id"]),
                order_id=int(t["orderId"]),
                api_key=api_key,
                price=Decimal(t["price"]),
                qty=Decimal(t["qty"]),
                commission=Decimal(t["commission"]),
                commission_asset=str(t["commissionAsset"]),
                is_buyer=bool(t["isBuyer"]),
            )
            for t in sim.trades(api_key=api_key)
        ]
        balances[api_key] = total_balances(sim.balances(api_key))
    return orders, trades, balances


async def _our_side(
    dsn: str, key_of_bot: Mapping[str, str]
) -> tuple[list[OurOrder], list[OurFill], list[OurEvent], list[OurBot]]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        order_rows = await connection.fetch(
            "SELECT id, bot_id, client_order_id, exchange_order_id, status, side, intent,"
            " created_at, updated_at, closed_at, error FROM orders"
        )
        fill_rows = await connection.fetch(
            "SELECT order_id, bot_id, trade_id, side, price, amount, fee, fee_currency FROM fills"
        )
        event_rows = await connection.fetch(
            "SELECT bot_id, type AS kind, message, data, created_at FROM events"
            " WHERE bot_id IS NOT NULL"
        )
        bot_rows = await connection.fetch("SELECT id, name, status FROM bots")
    finally:
        await connection.close()
    orders = [
        OurOrder(
            id=str(r["id"]),
            bot_id=str(r["bot_id"]),
            client_order_id=r["client_order_id"],
            exchange_order_id=r["exchange_order_id"],
            status=r["status"],
            side=r["side"],
            intent=_json(r["intent"]) or {},
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            closed_at=r["closed_at"],
            error=r["error"],
        )
        for r in order_rows
    ]
    fills = [
        OurFill(
            order_id=str(r["order_id"]),
            bot_id=str(r["bot_id"]),
            trade_id=r["trade_id"],
            side=r["side"],
            price=r["price"],
            amount=r["amount"],
            fee=r["fee"],
            fee_currency=r["fee_currency"],
        )
        for r in fill_rows
    ]
    events = [
        OurEvent(str(r["bot_id"]), r["kind"], r["message"], _json(r["data"]), r["created_at"])
        for r in event_rows
    ]
    stops: dict[str, Any] = {}
    for event in sorted(events, key=lambda e: e.created_at):
        if event.kind == STOP_REQUESTED:
            stops.setdefault(event.bot_id, event.created_at)
    bots = [
        OurBot(
            str(r["id"]), r["name"], r["status"], key_of_bot[str(r["id"])], stops.get(str(r["id"]))
        )
        for r in bot_rows
        if str(r["id"]) in key_of_bot
    ]
    return orders, fills, events, bots


def load_records(
    sim: SimulatorClient,
    dsn: str,
    key_of_bot: Mapping[str, str],
    starting_balances: dict[str, dict[str, Decimal]],
    base: str = "BTC",
    quote: str = "USDT",
    foreign_prefix: str | None = None,
) -> Records:
    end_ms = int(time.time() * 1000)
    orders, trades, balances = exchange_side(sim, sorted(starting_balances))
    ours, fills, events, bots = asyncio.run(_our_side(dsn, key_of_bot))
    return Records(
        base=base,
        quote=quote,
        exchange_orders=orders,
        exchange_trades=trades,
        exchange_balances=balances,
        starting_balances=starting_balances,
        orders=ours,
        fills=fills,
        events=events,
        bots=bots,
        end_ms=end_ms,
        foreign_prefix=foreign_prefix,
    )


async def _counts(dsn: str) -> tuple[int, int]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        unsettled = await connection.fetchval(
            "SELECT count(*) FROM orders WHERE status NOT IN"
            " ('filled', 'canceled', 'rejected', 'expired', 'denied')"
        )
        not_stopped = await connection.fetchval(
            "SELECT count(*) FROM bots WHERE status <> 'stopped'"
        )
    finally:
        await connection.close()
    return int(unsettled), int(not_stopped)


def unsettled(dsn: str) -> tuple[int, int]:
    """(orders not in a final state, bots not stopped) in our database now."""
    return asyncio.run(_counts(dsn))


def dump_exchange(sim: SimulatorClient, api_keys: list[str], path: Path) -> None:
    """The exchange's raw record of our keys, for checking a count by hand after the run."""
    record = {
        key: {
            "orders": sim.orders(api_key=key),
            "trades": sim.trades(api_key=key),
            "balances": sim.balances(key),
        }
        for key in api_keys
    }
    path.write_text(json.dumps(record, indent=1))
