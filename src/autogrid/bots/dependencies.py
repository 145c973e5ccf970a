"""FastAPI dependencies of the bot routes: the swappable market rules and the after-commit hook.

Swap either by setting ``app.state.market_rules_provider`` / ``app.state.bot_dispatcher`` (in the
app's lifespan or in a test). The API's routes are shared by every app of a process and do not
consult ``app.dependency_overrides`` (``api.router.mount_api``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request

from autogrid.bots.dispatch import NOOP_DISPATCHER, AfterCommit, BotDispatcher
from autogrid.bots.markets import MarketRulesProvider, conservative_market_rules


def get_market_rules_provider(request: Request) -> MarketRulesProvider:
    provider: MarketRulesProvider | None = getattr(request.app.state, "market_rules_provider", None)
    return provider or conservative_market_rules


def get_bot_dispatcher(request: Request) -> BotDispatcher:
    dispatcher: BotDispatcher | None = getattr(request.app.state, "bot_dispatcher", None)
    return dispatcher or NOOP_DISPATCHER


def get_after_commit(
    background: BackgroundTasks, dispatcher: Annotated[BotDispatcher, Depends(get_bot_dispatcher)]
) -> AfterCommit:
    return AfterCommit(background, dispatcher)


MarketRulesDep = Annotated[MarketRulesProvider, Depends(get_market_rules_provider)]
AfterCommitDep = Annotated[AfterCommit, Depends(get_after_commit)]
