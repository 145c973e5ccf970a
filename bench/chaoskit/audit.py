"""The exchange's own record against ours: what the chaos run counts (pure, no I/O).

Every count is a defect when it is not zero:

- duplicate orders: an exchange order beyond the first for one client id, plus each pair of
  exchange orders of one bot and one strategy tag (under different client ids) that were live at
  the same time on the exchange's clock;
- unknown orders: exchange orders of our keys whose client id is not in our database, plus our
  orders still UNKNOWN or SUBMITTING at the end;
- missing fills: exchange trades of our keys with no fill row for that trade id;
- doubled fills: fill rows beyond the first for one trade id, plus fill rows that do not match an
  exchange trade of the same order, amount and price;
- intents without an order or a reason: orders that ended REJECTED or DENIED (never placed) while
  the bot still wanted them (rejected before the bot's stop was requested, or the stop's own market
  sell), with no replacement (an order whose intent ``replaces`` it, or a later order of the bot
  with the same tag and side) and no bot event naming its client order id (in its message or
  data) written after it was created;
- open orders after stop: client ids open on the exchange, or not in a final state in our
  database, once every bot stopped (UNKNOWN and SUBMITTING rows count as unknown orders instead);
- bots not stopped: bots that did not reach ``stopped`` before the deadline;
- balance mismatches: per key and asset, the exchange's total balance (free + locked) against the
  starting balance moved by our fills (price x amount, fees in their own asset) and by the trades
  of whoever else trades on the key (``Records.foreign_prefix``; their orders are not counted
  above).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

FINAL_STATUSES = frozenset({"filled", "canceled", "rejected", "expired", "denied"})
IN_FLIGHT_STATUSES = frozenset({"unknown", "submitting"})
NOT_PLACED_STATUSES = frozenset({"rejected", "denied"})
EXCHANGE_OPEN = frozenset({"NEW", "PARTIALLY_FILLED"})
STOP_SELL_TAG = "STOPSELL"
# Events that explain why a bot stopped placing orders, whatever order they name; a skipped stop
# sell explains only the stop's own sell.
EXPLAINING_KINDS = frozenset({"breaker_tripped", "error"})
STOP_SELL_SKIPPED = "stop_sell_skipped"
EXPLAINING_WINDOW = timedelta(seconds=60)
ZERO = Decimal(0)


@dataclass(frozen=True)
class ExchangeOrder:
    order_id: int
    client_order_id: str
    api_key: str
    status: str
    side: str
    time_ms: int
    update_time_ms: int
    # The exchange's order of events (the simulator's, not its clock: the chaos skews that).
    created_seq: int
    ended_seq: int | None

    @property
    def is_open(self) -> bool:
        return self.status in EXCHANGE_OPEN

    def ended_before(self, other: ExchangeOrder) -> bool:
        """This order was over (filled, canceled...) before ``other`` was created."""
        return self.ended_seq is not None and self.ended_seq < other.created_seq


@dataclass(frozen=True)
class ExchangeTrade:
    trade_id: int
    order_id: int
    api_key: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    is_buyer: bool


@dataclass(frozen=True)
class OurOrder:
    id: str
    bot_id: str
    client_order_id: str
    exchange_order_id: str | None
    status: str
    side: str
    intent: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    error: str | None

    @property
    def tag(self) -> str | None:
        tag = self.intent.get("tag")
        return None if tag is None else str(tag)


@dataclass(frozen=True)
class OurFill:
    order_id: str
    bot_id: str
    trade_id: str
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str | None


@dataclass(frozen=True)
class OurEvent:
    bot_id: str
    kind: str
    message: str
    data: Any
    created_at: datetime


@dataclass(frozen=True)
class OurBot:
    id: str
    name: str
    status: str
    api_key: str
    stop_requested_at: datetime | None


@dataclass
class Records:
    """Both sides, as loaded at the end of the run."""

    base: str
    quote: str
    exchange_orders: list[ExchangeOrder]
    exchange_trades: list[ExchangeTrade]
    exchange_balances: dict[str, dict[str, Decimal]]  # api key -> asset -> free + locked
    starting_balances: dict[str, dict[str, Decimal]]
    orders: list[OurOrder]
    fills: list[OurFill]
    events: list[OurEvent]
    bots: list[OurBot]
    end_ms: int
    # Client ids of someone else trading on our keys (not ours to account for, but their trades
    # move the balances).
    foreign_prefix: str | None = None

    def is_foreign(self, client_order_id: str) -> bool:
        return self.foreign_prefix is not None and client_order_id.startswith(self.foreign_prefix)

    @property
    def foreign_order_ids(self) -> set[int]:
        return {o.order_id for o in self.exchange_orders if self.is_foreign(o.client_order_id)}


@dataclass
class Finding:
    count: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, detail: str, count: int = 1) -> None:
        self.count += count
        self.details.append(detail)


@dataclass
class Audit:
    duplicate_orders: Finding = field(default_factory=Finding)
    unknown_orders: Finding = field(default_factory=Finding)
    missing_fills: Finding = field(default_factory=Finding)
    doubled_fills: Finding = field(default_factory=Finding)
    intents_without_order_or_reason: Finding = field(default_factory=Finding)
    open_orders_after_stop: Finding = field(default_factory=Finding)
    bots_not_stopped: Finding = field(default_factory=Finding)
    balance_mismatches: Finding = field(default_factory=Finding)

    def items(self) -> Iterator[tuple[str, Finding]]:
        for name in self.__dataclass_fields__:
            yield name.replace("_", " "), getattr(self, name)

    @property
    def clean(self) -> bool:
        return all(finding.count == 0 for _, finding in self.items())


def audit(records: Records) -> Audit:
    result = Audit()
    ours_by_client = {o.client_order_id: o for o in records.orders}
    _duplicates(records, ours_by_client, result.duplicate_orders)
    _unknown(records, ours_by_client, result.unknown_orders)
    _fills(records, result.missing_fills, result.doubled_fills)
    _dropped_intents(records, result.intents_without_order_or_reason)
    _left_open(records, result.open_orders_after_stop)
    for bot in records.bots:
        if bot.status != "stopped":
            result.bots_not_stopped.add(f"bot {bot.name} ({bot.id}) is {bot.status}")
    _balances(records, result.balance_mismatches)
    return result


def _duplicates(records: Records, ours: Mapping[str, OurOrder], finding: Finding) -> None:
    by_client: dict[str, list[ExchangeOrder]] = defaultdict(list)
    for order in records.exchange_orders:
        if not records.is_foreign(order.client_order_id):
            by_client[order.client_order_id].append(order)
    for client_id, placed in sorted(by_client.items()):
        if len(placed) > 1:
            ids = ", ".join(str(o.order_id) for o in placed)
            finding.add(
                f"client id {client_id} placed {len(placed)} times: orders {ids}", len(placed) - 1
            )
    # One order per client id from here (the first): the other copies are counted above.
    by_intent: dict[tuple[str, str], list[ExchangeOrder]] = defaultdict(list)
    for client_id, placed in by_client.items():
        mine = ours.get(client_id)
        if mine is not None and mine.tag is not None:
            by_intent[(mine.bot_id, mine.tag)].append(placed[0])
    for (bot_id, tag), placed in sorted(by_intent.items()):
        for first, second in itertools.combinations(sorted(placed, key=_by_creation), 2):
            if not first.ended_before(second):
                finding.add(
                    f"bot {bot_id} tag {tag}: {first.client_order_id} (order {first.order_id}, "
                    f"{first.status}) and {second.client_order_id} (order {second.order_id}, "
                    f"{second.status}) live at once"
                )


def _by_creation(order: ExchangeOrder) -> int:
    # Not by the exchange's times: a clock skewed back makes a later order look older.
    return order.created_seq


def _unknown(records: Records, ours: Mapping[str, OurOrder], finding: Finding) -> None:
    for order in records.exchange_orders:
        if order.client_order_id not in ours and not records.is_foreign(order.client_order_id):
            finding.add(
                f"exchange order {order.order_id} ({order.client_order_id}, {order.side}, "
                f"{order.status}) is not in our database"
            )
    for mine in records.orders:
        if mine.status in IN_FLIGHT_STATUSES:
            finding.add(f"our order {mine.client_order_id} (bot {mine.bot_id}) is {mine.status}")


def _fills(records: Records, missing: Finding, doubled: Finding) -> None:
    ours_by_id = {o.id: o for o in records.orders}
    foreign = records.foreign_order_ids
    trades = {str(t.trade_id): t for t in records.exchange_trades if t.order_id not in foreign}
    rows_by_trade: dict[str, list[OurFill]] = defaultdict(list)
    for fill in records.fills:
        rows_by_trade[fill.trade_id].append(fill)
    for trade_id, trade in sorted(trades.items(), key=lambda item: int(item[0])):
        if trade_id not in rows_by_trade:
            missing.add(
                f"trade {trade_id} of exchange order {trade.order_id} "
                f"({trade.qty} @ {trade.price}) has no fill row"
            )
    for trade_id, rows in sorted(rows_by_trade.items()):
        if len(rows) > 1:
            doubled.add(f"trade {trade_id} recorded {len(rows)} times", len(rows) - 1)
        fill = rows[0]
        theirs = trades.get(trade_id)
        order = ours_by_id.get(fill.order_id)
        if theirs is None:
            doubled.add(f"fill of trade {trade_id} (order {fill.order_id}): no such trade")
        elif (
            order is None
            or order.exchange_order_id != str(theirs.order_id)
            or fill.amount != theirs.qty
            or fill.price != theirs.price
            or fill.fee != theirs.commission
        ):
            doubled.add(
                f"fill of trade {trade_id} differs from the exchange's: ours "
                f"{fill.amount} @ {fill.price} fee {fill.fee} on "
                f"{order.exchange_order_id if order else '?'}, theirs {theirs.qty} @ "
                f"{theirs.price} fee {theirs.commission} on {theirs.order_id}"
            )


def _mentions(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value
    if isinstance(value, Mapping):
        return any(_mentions(v, needle) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions(v, needle) for v in value)
    return False


def _explains(event: OurEvent, order: OurOrder, ended: datetime) -> bool:
    """A bot event naming the order, or one telling the owner the bot stopped acting (breaker,
    error; for the stop's sell, its skipping) written soon after the order ended."""
    if event.created_at < order.created_at:
        return False
    if order.client_order_id in event.message or _mentions(event.data, order.client_order_id):
        return True
    kinds = EXPLAINING_KINDS | ({STOP_SELL_SKIPPED} if order.tag == STOP_SELL_TAG else set())
    return event.kind in kinds and event.created_at <= ended + EXPLAINING_WINDOW


def _dropped_intents(records: Records, finding: Finding) -> None:
    stops = {bot.id: bot.stop_requested_at for bot in records.bots}
    by_bot: dict[str, list[OurOrder]] = defaultdict(list)
    for order in records.orders:
        by_bot[order.bot_id].append(order)
    events: dict[str, list[OurEvent]] = defaultdict(list)
    for event in records.events:
        events[event.bot_id].append(event)
    for bot_id, orders in sorted(by_bot.items()):
        replaced = {str(o.intent.get("replaces")) for o in orders if o.intent.get("replaces")}
        for order in orders:
            if order.status not in NOT_PLACED_STATUSES or order.intent.get("cancel_wanted"):
                continue
            ended = order.closed_at or order.updated_at
            stop = stops.get(bot_id)
            if stop is not None and ended >= stop and order.tag != STOP_SELL_TAG:
                continue  # the bot was stopping: the strategy no longer wanted it
            if order.client_order_id in replaced or any(
                later.tag == order.tag
                and later.side == order.side
                and later.created_at > order.created_at
                for later in orders
            ):
                continue
            if any(_explains(event, order, ended) for event in events[bot_id]):
                continue
            finding.add(
                f"bot {bot_id} tag {order.tag} {order.side}: {order.client_order_id} "
                f"{order.status} at {ended:%H:%M:%S} ({order.error}) with no replacement "
                "and no event"
            )


def _left_open(records: Records, finding: Finding) -> None:
    left: dict[str, str] = {}
    for order in records.exchange_orders:
        if order.is_open and not records.is_foreign(order.client_order_id):
            left[order.client_order_id] = f"open on the exchange ({order.status})"
    for mine in records.orders:
        if mine.status not in FINAL_STATUSES | IN_FLIGHT_STATUSES:
            where = left.get(mine.client_order_id, "")
            left[mine.client_order_id] = f"{mine.status} in our database " + where
    for client_id, what in sorted(left.items()):
        finding.add(f"{client_id}: {what.strip()}")


def expected_balances(
    starting: Mapping[str, Decimal], fills: Iterable[OurFill], base: str, quote: str
) -> dict[str, Decimal]:
    """The starting balances moved by these fills (fees taken in the asset they are in)."""
    balances: defaultdict[str, Decimal] = defaultdict(Decimal)
    for asset, amount in starting.items():
        balances[asset] += amount
    for fill in fills:
        sign = Decimal(1) if fill.side == "buy" else Decimal(-1)
        balances[base] += sign * fill.amount
        balances[quote] -= sign * fill.amount * fill.price
        if fill.fee and fill.fee_currency:
            balances[fill.fee_currency] -= fill.fee
    return dict(balances)


def _balances(records: Records, finding: Finding) -> None:
    key_of_bot = {bot.id: bot.api_key for bot in records.bots}
    fills_by_key: dict[str, list[OurFill]] = defaultdict(list)
    for fill in records.fills:
        fills_by_key[key_of_bot.get(fill.bot_id, "?")].append(fill)
    foreign = records.foreign_order_ids
    for trade in records.exchange_trades:
        if trade.order_id in foreign:
            fills_by_key[trade.api_key].append(
                OurFill(
                    order_id=str(trade.order_id),
                    bot_id="",
                    trade_id=str(trade.trade_id),
                    side="buy" if trade.is_buyer else "sell",
                    price=trade.price,
                    amount=trade.qty,
                    fee=trade.commission,
                    fee_currency=trade.commission_asset,
                )
            )
    for api_key, starting in sorted(records.starting_balances.items()):
        want = expected_balances(starting, fills_by_key[api_key], records.base, records.quote)
        have = records.exchange_balances.get(api_key, {})
        for asset in sorted(set(want) | set(have)):
            ours, theirs = want.get(asset, ZERO), have.get(asset, ZERO)
            if ours != theirs:
                finding.add(
                    f"key {api_key[:8]}... {asset}: exchange {theirs}, our fills imply {ours} "
                    f"(difference {theirs - ours})"
                )
