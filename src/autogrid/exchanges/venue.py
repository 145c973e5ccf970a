"""Where a bot trades: its exchange account (live) or its paper account, behind one interface.

A live bot trades through the pooled ccxt connector of its credential, decrypted here and only
here. A paper bot gets a paper account of its own on its first start (its id kept in the bot
state's ``paper``), priced by stored candles (replay) or by the exchange's public data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.state import PaperAccountRef, load_state, paper_account_id, store_state
from autogrid.credentials import repository as credentials
from autogrid.credentials.crypto import CredentialCryptoError, keyring_from_settings
from autogrid.credentials.service import open_secrets
from autogrid.engine.context import RuntimeContext
from autogrid.exchanges.instrumented import InstrumentedConnector
from autogrid.exchanges.paper import (
    LivePriceSource,
    PaperExchange,
    PriceSource,
    PriceSourceKind,
    ReplayPriceSource,
    create_paper_account,
)
from autogrid.models import Bot
from autogrid.models.bot import BotMode
from autogrid.models.paper import bot_account_label


class VenueUnavailable(Exception):
    """The bot cannot trade until a human acts (credential gone or unreadable)."""


@dataclass(slots=True)
class Venue:
    connector: InstrumentedConnector
    paper: PaperExchange | None = None
    paper_kind: PriceSourceKind | None = None

    @property
    def replay(self) -> bool:
        return self.paper_kind is PriceSourceKind.REPLAY


def never_opened(bot: Bot) -> bool:
    """A paper bot whose paper account was never opened (its first start not carried out)."""
    return bot.mode == BotMode.PAPER and paper_account_id(bot) is None


async def ensure_paper_account(session: AsyncSession, bot: Bot, now: datetime) -> uuid.UUID:
    """The bot's paper account, opened on first use with the bot's paper settings.

    The account outlives stops and starts (its balances and resting orders are the bot's
    history); a change of the paper settings while stopped opens a fresh one.
    """
    settings: dict[str, Any] = dict(bot.paper or {})
    state = load_state(bot)
    saved = state.paper
    if saved is not None and saved.account_id and saved.settings == settings:
        return uuid.UUID(saved.account_id)
    source = PriceSourceKind(settings.get("price_source", "live"))
    start = settings.get("start")
    account = await create_paper_account(
        session,
        label=bot_account_label(bot.id),
        exchange=bot.exchange,
        balances={
            currency: Decimal(str(amount)) for currency, amount in settings["balances"].items()
        },
        price_source=source,
        owner_id=bot.user_id,
        timeframe=settings.get("timeframe") or "1m",
        replay_start=datetime.fromisoformat(start) if start else None,
        replay_speed=Decimal(str(settings.get("speed") or 1)),
        now=now,
    )
    state.paper = PaperAccountRef(account_id=str(account.id), settings=settings)
    store_state(bot, state)
    return account.id


async def open_venue(ctx: RuntimeContext, bot: Bot) -> Venue:
    """The connector for ``bot`` (no network yet)."""
    if bot.mode == BotMode.PAPER:
        return await _paper_venue(ctx, bot)
    async with ctx.database.session_scope() as session:
        return await _live_venue(ctx, session, bot)


async def _live_venue(ctx: RuntimeContext, session: AsyncSession, bot: Bot) -> Venue:
    if bot.credential_id is None:
        raise VenueUnavailable("the bot's credential was deleted: set one and start it again")
    credential = await credentials.get_by_id(session, bot.credential_id)
    if credential is None or credential.user_id != bot.user_id:
        raise VenueUnavailable("the bot's credential no longer exists")
    try:
        secrets = open_secrets(keyring_from_settings(ctx.settings), credential)
    except CredentialCryptoError as error:
        raise VenueUnavailable(f"the bot's credential cannot be decrypted: {error}") from None
    connector = await ctx.connectors.get(
        bot.exchange,
        credential_id=str(credential.id),
        # A rotated key or an edited credential gets a fresh ccxt instance.
        credential_version=f"{credential.key_version}:{credential.updated_at.isoformat()}",
        credentials=secrets,
        sandbox=credential.sandbox,
    )
    return Venue(InstrumentedConnector(connector))


async def _paper_venue(ctx: RuntimeContext, bot: Bot) -> Venue:
    account_id = paper_account_id(bot)
    if account_id is None:
        raise VenueUnavailable("the paper bot has no paper account yet (start it first)")
    kind = PriceSourceKind((bot.paper or {}).get("price_source", "live"))
    paper = ctx.papers.get((bot.id, account_id))
    if paper is None:
        source: PriceSource
        if kind is PriceSourceKind.REPLAY:
            source = ReplayPriceSource(ctx.database, bot.exchange)
        else:
            source = LivePriceSource(await ctx.connectors.public(bot.exchange))
        paper = PaperExchange(ctx.database, account_id, source, clock=ctx.clock)
        ctx.papers[(bot.id, account_id)] = paper
    return Venue(InstrumentedConnector(paper, f"paper:{bot.exchange}"), paper, kind)
