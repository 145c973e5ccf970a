"""What a linked chat may ask: every command acts on the linked user's own bots only.

A bot is named by its name (case-insensitive) or a prefix of its id (at least 4 characters);
a name that matches none of the user's bots, or several, gets a clear answer and never reaches
another user's bot (the lookups are restricted to the user, and the bots service checks the
owner again). ``/stop`` asks for a confirmation with an inline button; the press stops the bot.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import controls as bots
from autogrid.bots.dispatch import BotCommand
from autogrid.core.errors import AppError
from autogrid.models import Bot, User
from autogrid.notifications.telegram import repository
from autogrid.notifications.telegram.client import Buttons
from autogrid.performance.schemas import MetricInterval
from autogrid.performance.service import bot_metrics, bot_stats

MIN_ID_PREFIX = 4
MAX_PROFIT_DAYS = 365
DAILY_DAYS = 7
STOP_PREFIX = "stop:"
CANCEL_DATA = "cancel"

HELP = """AutoGrid commands:
/status - your bots by status
/bots - your bots with their short ids
/profit [days] - P&L per bot (all time, or over the last days)
/daily - P&L per day, last 7 days
/balance - what each bot holds and has made
/pause <bot> - pause a running bot
/resume <bot> - resume a paused bot
/stop <bot> - stop a bot (asks to confirm)
Name a bot by its name or the first characters of its id."""


@dataclass(slots=True)
class Answer:
    text: str
    buttons: Buttons | None = None
    commands: list[BotCommand] = field(default_factory=list)


class Refused(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def resolve(candidates: Sequence[Bot], name: str) -> Bot:
    wanted = name.strip().lower()
    if not wanted:
        raise Refused("Name a bot: its name or the first characters of its id (see /bots).")
    by_name = [bot for bot in candidates if bot.name.lower() == wanted]
    if len(by_name) == 1:
        return by_name[0]
    by_id = [
        bot
        for bot in candidates
        if len(wanted) >= MIN_ID_PREFIX and bot.id.hex.startswith(wanted.replace("-", ""))
    ]
    matches = by_name or by_id
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise Refused(f"You have no bot called {name!r} (see /bots).")
    listed = ", ".join(f"{bot.name} ({bot.id.hex[:8]})" for bot in matches[:5])
    raise Refused(f"{name!r} matches several of your bots: {listed}. Use the id.")


async def run(
    session: AsyncSession, user: User, command: str, args: list[str], now: datetime
) -> Answer:
    handler = _HANDLERS.get(command)
    if handler is None:
        return Answer(HELP)
    try:
        return await handler(session, user, args, now)
    except Refused as missing:
        return Answer(missing.message)
    except AppError as refused:  # a status that does not allow it, a bot gone meanwhile
        return Answer(f"Not done: {refused.message}")


async def confirm_stop(session: AsyncSession, user: User, bot_id: uuid.UUID) -> Answer:
    """The confirmation button was pressed: stop the bot (its open orders cancelled)."""
    try:
        transition = await bots.stop_bot(session, user, bot_id)
    except AppError as refused:
        return Answer(f"Not done: {refused.message}")
    commands = [transition.command] if transition.command else []
    return Answer(
        f"Stopping {transition.bot.name}: its open orders are being cancelled.", commands=commands
    )


async def _status(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    mine = await repository.bots_of(session, user.id)
    if not mine:
        return Answer("You have no bots yet.")
    counts: dict[str, int] = {}
    for bot in mine:
        counts[bot.status] = counts.get(bot.status, 0) + 1
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    trouble = [f"  {bot.name}: {bot.status}" for bot in mine if bot.status in ("halted", "error")]
    return Answer("\n".join([f"{len(mine)} bots: {summary}", *trouble]))


async def _list(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    mine = await repository.bots_of(session, user.id)
    if not mine:
        return Answer("You have no bots yet.")
    return Answer(
        "\n".join(f"{bot.id.hex[:8]}  {bot.name}  {bot.symbol}  {bot.status}" for bot in mine)
    )


async def _profit(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    days = _days(args)
    lines = []
    for bot in await repository.bots_of(session, user.id):
        if days is None:
            stats = await bot_stats(session, user, bot.id)
            lines.append(f"{bot.name}: {_money(stats.total_pnl)} {stats.quote}")
        else:
            change = await _pnl_change(session, user, bot, now - timedelta(days=days), now)
            lines.append(f"{bot.name}: {_money(change)}")
    if not lines:
        return Answer("You have no bots yet.")
    span = "all time" if days is None else f"last {days} days"
    return Answer("\n".join([f"P&L ({span}):", *lines]))


async def _daily(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    mine = await repository.bots_of(session, user.id)
    if not mine:
        return Answer("You have no bots yet.")
    start = (now - timedelta(days=DAILY_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    lines = ["P&L per day (all bots, from recorded samples):"]
    for day in range(DAILY_DAYS):
        since = start + timedelta(days=day)
        until = min(since + timedelta(days=1), now)
        total = sum(
            [await _pnl_change(session, user, bot, since, until) for bot in mine], Decimal(0)
        )
        lines.append(f"{since:%Y-%m-%d}: {_money(total)}")
    return Answer("\n".join(lines))


async def _balance(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    lines = ["What your bots hold (from their own fills):"]
    for bot in await repository.bots_of(session, user.id):
        stats = await bot_stats(session, user, bot.id)
        invested = (
            f", invested {_money(stats.investment)} {stats.quote}" if stats.investment else ""
        )
        lines.append(
            f"{bot.name}: {_money(stats.position)} {stats.base}{invested}, "
            f"P&L {_money(stats.total_pnl)} {stats.quote}"
        )
    return Answer("\n".join(lines) if len(lines) > 1 else "You have no bots yet.")


async def _pause(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    bot = resolve(await repository.bots_of(session, user.id), " ".join(args))
    transition = await bots.pause_bot(session, user, bot.id)
    return Answer(
        f"Paused {bot.name}.", commands=[transition.command] if transition.command else []
    )


async def _resume(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    bot = resolve(await repository.bots_of(session, user.id), " ".join(args))
    transition = await bots.resume_bot(session, user, bot.id)
    return Answer(
        f"Resumed {bot.name}.", commands=[transition.command] if transition.command else []
    )


async def _stop(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    bot = resolve(await repository.bots_of(session, user.id), " ".join(args))
    return Answer(
        f"Stop {bot.name} ({bot.symbol})? Its open orders will be cancelled.",
        buttons=[[("Stop it", f"{STOP_PREFIX}{bot.id}"), ("Keep it running", CANCEL_DATA)]],
    )


async def _help(session: AsyncSession, user: User, args: list[str], now: datetime) -> Answer:
    return Answer(HELP)


async def _pnl_change(
    session: AsyncSession, user: User, bot: Bot, since: datetime, until: datetime
) -> Decimal:
    """Total P&L at the end of the span minus at its start, from the recorded samples."""
    if until <= since:
        return Decimal(0)
    _, _, points = await bot_metrics(session, user, bot.id, MetricInterval.H1, since, until)
    if not points:
        return Decimal(0)
    first, last = points[0], points[-1]
    return (last.realized_pnl + last.unrealized_pnl) - (first.realized_pnl + first.unrealized_pnl)


def _days(args: list[str]) -> int | None:
    if not args:
        return None
    try:
        days = int(args[0])
    except ValueError:
        raise Refused("Usage: /profit [days], e.g. /profit 7") from None
    if not 1 <= days <= MAX_PROFIT_DAYS:
        raise Refused(f"Days must be between 1 and {MAX_PROFIT_DAYS}.")
    return days


def _money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{value.quantize(Decimal('0.01')):+}" if abs(value) >= 1 else f"{value.normalize():+}"


_HANDLERS = {
    "status": _status,
    "bots": _list,
    "profit": _profit,
    "daily": _daily,
    "balance": _balance,
    "pause": _pause,
    "resume": _resume,
    "stop": _stop,
    "help": _help,
}
