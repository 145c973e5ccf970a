"""Signals drive smart trades end to end: a buy on a source with a smart-trade template opens a
trade (paper through the API; live against the exchange simulator, ticked to its close), its
signal's result names the trade, and a signal that cannot make a trade opens nothing and
says why."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx

from autogrid.bots.markets import MarketRulesProvider, conservative_market_rules
from autogrid.core.db import Database
from autogrid.exchanges.errors import TemporaryExchangeError
from autogrid.exchanges.types import MarketRules
from autogrid.models import BotStatus, Signal, User
from autogrid.orders.values import tag_of
from autogrid.signals import execution
from autogrid.signals import service as sources
from autogrid.signals.schemas import SourceCreate
from autogrid.smart_trades.service import trade_read
from tests.engine.test_smart_trade_ticks import strategy_state, tick_until
from tests.helpers import ApiUser, assert_error_shape
from tests.signals.conftest import SOURCES, make_source, post_signal
from tests.smart_trades.test_api import TRADES
from tests.support.factories import SYMBOL, LiveAccount, load_bot, orders_of

PAPER_TEMPLATE = {
    "mode": "paper",
    "paper": {"price_source": "live", "balances": {"USDT": "10000"}},
    "symbol": "BTC/USDT",
    "amount": {"value": "1000", "unit": "quote"},
    "move_to_break_even_after_first_tp": True,
}
BUY = {"action": "buy", "stop_loss": 98000, "take_profit": [101000, 103000]}


async def accepted(client: httpx.AsyncClient, token: str, body: Any) -> int:
    answer = await post_signal(client, token, body)
    assert answer.json()["outcome"] == "accepted", answer.text
    signal_id: int = answer.json()["id"]
    return signal_id


async def carry_out(
    db: Database, signal_id: int, markets: MarketRulesProvider = conservative_market_rules
) -> Signal:
    async with db.session_scope() as session:
        await execution.execute(session, signal_id, markets)
    async with db.session_scope() as session:
        signal = await session.get(Signal, signal_id)
        assert signal is not None
        return signal


async def test_a_buy_signal_opens_a_paper_smart_trade_with_its_exits(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    source = await make_source(client, user, [], smart_trade=PAPER_TEMPLATE)
    assert source["smart_trade"]["symbol"] == "BTC/USDT" and source["bot_ids"] == []
    signal = await carry_out(db, await accepted(client, source["token"], BUY))

    assert signal.outcome == "executed", signal.reason
    [result] = signal.results or []
    trade_id = result["smart_trade_id"]
    assert result == {
        "bot_id": trade_id,
        "smart_trade_id": trade_id,
        "outcome": "executed",
        "reason": None,
    }
    trade = (await client.get(f"{TRADES}/{trade_id}", headers=user.headers)).json()
    assert trade["status"] == "starting" and trade["mode"] == "paper"
    assert trade["config"]["entry"]["type"] == "market"
    assert [s["price"] for s in trade["config"]["take_profits"]] == ["101000", "103000"]
    assert trade["config"]["stop_loss"] == {
        "price": "98000",
        "percent": None,
        "move_to_break_even_after_first_tp": True,
    }
    shown = (await client.get(f"/api/v1/signals/{signal.id}", headers=user.headers)).json()
    assert shown["results"][0]["smart_trade_id"] == trade_id


async def test_a_signal_that_cannot_make_a_trade_opens_nothing_and_says_why(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    template = {**PAPER_TEMPLATE, "amount": None}
    source = await make_source(client, user, [], smart_trade=template)
    no_amount = await carry_out(db, await accepted(client, source["token"], BUY))
    assert no_amount.outcome == "failed"
    assert no_amount.results == [
        {
            "bot_id": None,
            "smart_trade_id": None,
            "outcome": "failed",
            "reason": "the signal gives no amount and the source's template has none",
        }
    ]
    tiny = {**PAPER_TEMPLATE, "amount": {"value": "1", "unit": "quote"}}
    small = await make_source(client, user, [], smart_trade=tiny)
    refused = await carry_out(db, await accepted(client, small["token"], BUY))
    assert refused.outcome == "failed" and "below the market minimum" in str(refused.reason)
    listed = (await client.get(TRADES, headers=user.headers)).json()
    assert listed["items"] == []  # nothing half-made


async def test_a_signal_trade_is_checked_against_the_real_markets_rules(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """As ``POST /smart-trades`` is: it was checked against the default rules (10 USDT) and
    learnt the market's own minimum only when its bot ran."""

    async def strict(exchange: str, symbol: str) -> MarketRules:
        rules = await conservative_market_rules(exchange, symbol)
        return replace(rules, min_cost=Decimal(2000))

    source = await make_source(client, user, [], smart_trade=PAPER_TEMPLATE)
    refused = await carry_out(db, await accepted(client, source["token"], BUY), strict)
    assert refused.outcome == "failed" and "below the market minimum" in str(refused.reason)
    assert "2000" in str(refused.reason)
    assert (await client.get(TRADES, headers=user.headers)).json()["items"] == []


async def test_market_rules_unavailable_open_the_trade_on_the_default_rules(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """The exchange not answering and no list of its markets known: the trade is opened,
    checked against the conservative defaults; its bot checks the real rules when it runs."""

    async def down(exchange: str, symbol: str) -> MarketRules:
        raise TemporaryExchangeError("binance is not answering")

    source = await make_source(client, user, [], smart_trade=PAPER_TEMPLATE)
    opened = await carry_out(db, await accepted(client, source["token"], BUY), down)
    assert opened.outcome == "executed", opened.reason
    tiny = {**PAPER_TEMPLATE, "amount": {"value": "1", "unit": "quote"}}
    small = await make_source(client, user, [], smart_trade=tiny)
    refused = await carry_out(db, await accepted(client, small["token"], BUY), down)
    assert refused.outcome == "failed" and "below the market minimum" in str(refused.reason)


async def test_a_source_needs_bots_or_a_template_and_a_sell_is_still_refused(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    response = await client.post(SOURCES, json={"name": "x", "bot_ids": []}, headers=user.headers)
    assert_error_shape(response, 422)
    bad = {**PAPER_TEMPLATE, "paper": None}
    response = await client.post(
        SOURCES, json={"name": "x", "smart_trade": bad}, headers=user.headers
    )
    assert_error_shape(response, 422)
    source = await make_source(client, user, [], smart_trade=PAPER_TEMPLATE)
    sell = await accepted(client, source["token"], {"action": "sell", "symbol": "BTC/USDT"})
    refused = await carry_out(db, sell)
    assert refused.outcome == "refused" and "opens smart trades on buy signals" in str(
        refused.reason
    )
    assert (await client.get(TRADES, headers=user.headers)).json()["items"] == []


async def test_a_signal_drives_a_live_smart_trade_to_its_close(
    client: httpx.AsyncClient, live: LiveAccount
) -> None:
    template = {
        "mode": "live",
        "credential_id": str(live.credential_id),
        "symbol": SYMBOL,
        "amount": {"value": "1000", "unit": "quote"},
        "move_to_break_even_after_first_tp": True,
    }
    async with live.db.session_scope() as session:
        owner = await session.get(User, live.user_id)
        assert owner is not None
        body = SourceCreate.model_validate({"name": "live", "smart_trade": template})
        source = await sources.create_source(session, owner, body)
    signal = await carry_out(live.db, await accepted(client, source.token, BUY))
    assert signal.outcome == "executed", signal.reason
    trade_id = uuid.UUID((signal.results or [])[0]["smart_trade_id"])

    live.sim.set_price(SYMBOL, "100000")
    await tick_until(live.ctx, live.db, trade_id, lambda bot: strategy_state(bot).get("targets"))
    live.sim.set_price(SYMBOL, "101500")
    await tick_until(live.ctx, live.db, trade_id, lambda bot: strategy_state(bot)["stop_moved"])
    live.sim.set_price(SYMBOL, "100000")
    await tick_until(live.ctx, live.db, trade_id, lambda bot: bot.status == BotStatus.STOPPED)

    bot = await load_bot(live.db, trade_id)
    view = trade_read(bot)
    assert (view.exit, view.phase) == ("break_even", "closed")
    # Sold down to the dust a buy's base fee leaves below the market's amount step.
    assert view.take_profits_done == [0] and view.position < Decimal("0.00001")
    tags = {tag_of(o): o.status for o in await orders_of(live.db, trade_id)}
    assert tags == {"E1": "filled", "T2": "filled", "T3": "canceled", "X4": "filled"}
