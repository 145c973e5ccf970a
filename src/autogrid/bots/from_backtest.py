"""Bots made from a backtest: the configuration that was tested is the one that trades.

``POST /bots`` with ``from_backtest_id`` takes the backtest's bot type, exchange, symbol and
config exactly as its run used them (stored in its params at submission: an indicator's or a
DCA start condition's timeframe already resolved to the replayed candles'), and the rest of the
body (name, mode, account, paper and breaker settings) as for any bot. The body may repeat any of
the four; each must then equal the backtest's, compared after validation (so ``"100000"`` and
``"100000.0"`` are one price), or the request is refused with 422 naming every difference: a
stated expectation that does not hold is never silently overridden.

Only the user's own backtests (404, as for every resource) and only succeeded ones (409, with the
status): a failed or unfinished run has no tested result to trade on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest import service as backtests
from autogrid.backtest.factory import BOT_TYPES, parse_params
from autogrid.bots import service
from autogrid.bots.markets import MarketRulesProvider
from autogrid.bots.schemas import (
    BOT_CREATE,
    AnyBotCreate,
    BotCreateRequest,
    BotFromBacktestCreate,
)
from autogrid.core.errors import Unprocessable
from autogrid.models import Bot, UserIdentity
from autogrid.models.backtest import BacktestStatus
from autogrid.trading.strategies.base import StrategyConfigError

TESTED_FIELDS = ("type", "exchange", "symbol", "config")


class DiffersFromBacktest(Unprocessable):
    """A field given with ``from_backtest_id`` differs from the backtest's; one detail each."""

    code = "conflicts_with_backtest"


async def create_bot(
    session: AsyncSession, user: UserIdentity, body: BotCreateRequest, markets: MarketRulesProvider
) -> Bot:
    """Any create body: one naming a backtest becomes the tested configuration first."""
    if not isinstance(body, BotFromBacktestCreate):
        return await service.create_bot(session, user, body, markets)
    tested = await tested_body(session, user, body)
    origin = f"backtest {body.from_backtest_id}"
    return await service.create_bot(session, user, tested, markets, origin=origin)


async def tested_body(
    session: AsyncSession, user: UserIdentity, body: BotFromBacktestCreate
) -> AnyBotCreate:
    backtest = await backtests.get_backtest(session, user, body.from_backtest_id)
    if backtest.status != BacktestStatus.SUCCEEDED:
        raise backtests.BacktestStatusConflict(
            f"a bot can be made from a succeeded backtest only, and this one is "
            f"{backtest.status}: wait for it or pick another",
            backtest.status,
        )
    params = backtest.params
    if params["type"] not in BOT_TYPES:
        # A replayed signal list tests a source: its signals are not a bot's configuration.
        raise Unprocessable(
            f"a {params['type']} backtest cannot make a bot: create a signal bot (type signal) "
            "with its default_quote, default_pct and zone_orders and point the source at it",
            details=[
                {"loc": ["body", "from_backtest_id"], "msg": "not a bot type", "type": "invalid"}
            ],
        )
    tested = {name: params[name] for name in TESTED_FIELDS}
    problems = _differences(body, tested)
    if problems:
        names = ", ".join(".".join(problem["loc"][1:]) for problem in problems)
        raise DiffersFromBacktest(
            f"{names} differ from the backtest's: leave them out to take the tested values",
            details=problems,
        )
    settings = body.model_dump(mode="json", exclude={"from_backtest_id", *TESTED_FIELDS})
    return BOT_CREATE.validate_python({**settings, **tested})


def _differences(body: BotFromBacktestCreate, tested: dict[str, Any]) -> list[dict[str, Any]]:
    problems = []
    for name in ("type", "exchange", "symbol"):
        given = getattr(body, name)
        if given is not None and given != tested[name]:
            problems.append(_conflict((name,), given, tested[name]))
    if body.config is not None:
        problems += _config_differences(body.config, tested["type"], tested["config"])
    return problems


def _config_differences(
    given: dict[str, Any], bot_type: str, tested: dict[str, Any]
) -> list[dict[str, Any]]:
    try:
        mine = parse_params(bot_type, given).model_dump(mode="json")
    except StrategyConfigError as error:
        message = f"config is not a valid {bot_type} config: {error}"
        return [{"loc": ["body", "config"], "msg": message, "type": "invalid_config"}]
    theirs = parse_params(bot_type, tested).model_dump(mode="json")
    return [
        _conflict(("config", name), mine.get(name), theirs.get(name))
        for name in sorted(set(mine) | set(theirs))
        if mine.get(name) != theirs.get(name)
    ]


def _conflict(where: tuple[str, ...], given: Any, tested: Any) -> dict[str, Any]:
    return {
        "loc": ["body", *where],
        "msg": f"{'.'.join(where)} is {given!r} here and {tested!r} in the backtest",
        "type": "conflicts_with_backtest",
        "tested": tested,
    }
