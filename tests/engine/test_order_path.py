"""How far one live order travels through our code, as a newcomer would follow it.

Out: from the bot's step to the strategy's decision, to the order row recorded, to the exchange
call that places it. Back: from the step to the exchange call that reports the fill, to the fill
row written, to the strategy deciding on it. The path is every function of ours on the call stack
at each of those points (their union, so a function shared by two points counts once), measured on
the real path: a live grid bot, real ccxt against the simulator. ``pytest -s`` prints both paths.
The bounds keep it short: a new layer between the step and the exchange has to earn its hop.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from autogrid.exchanges.ccxt.connector import CcxtConnector
from autogrid.orders import store
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.strategies.grid import GridStrategy
from tests.support.factories import SYMBOL, LiveAccount

MAX_HOPS_OUT = 15
MAX_HOPS_BACK = 19
OUT = {
    "decision": GridStrategy.decide.__code__,
    "order recorded": store.add_order.__code__,
    "sent": CcxtConnector.create_order.__code__,
}
BACK = {
    "fill reported": CcxtConnector.fetch_order_trades.__code__,
    "fill recorded": store.add_fill.__code__,
    "decision": GridStrategy.decide.__code__,
}


def _ours(frame: FrameType | None) -> list[str]:
    """Our functions on the stack below ``frame``, outermost first, from the step's entry."""
    names: list[str] = []
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("autogrid."):
            names.append(f"{module}.{frame.f_code.co_qualname}")
        if frame.f_code is tick_bot.__code__:
            return names[::-1]
        frame = frame.f_back
    return []


async def _path(points: dict[str, Any], run: Callable[[], Awaitable[Any]]) -> list[str]:
    """The functions on the way from tick_bot to each point, in the order first met."""
    stacks: dict[str, list[str]] = {}
    wanted = {code: name for name, code in points.items()}

    def profile(frame: FrameType, event: str, _: Any) -> None:
        name = wanted.get(frame.f_code)
        if event == "call" and name is not None and name not in stacks:
            stacks[name] = [*_ours(frame.f_back), f"[{name}]"]

    sys.setprofile(profile)
    try:
        await run()
    finally:
        sys.setprofile(None)
    assert set(stacks) == set(points), f"not reached from the step: {set(points) - set(stacks)}"
    path: list[str] = []
    for name in points:
        path += [step for step in stacks[name] if step not in path]
    return path


def _show(title: str, path: list[str]) -> int:
    functions = [step for step in path if not step.startswith("[")]
    modules = {name.rsplit(".", 1)[0] for name in functions}
    print(f"\n{title}: {len(functions)} functions in {len(modules)} modules")
    for step in path:
        print(f"  {step}")
    return len(functions)


async def test_a_live_order_goes_out_and_its_fill_comes_back_in_few_hops(live: LiveAccount) -> None:
    bot_id = await live.bot(status="starting")

    out = await _path(OUT, lambda: tick_bot(live.ctx, bot_id))
    live.sim.set_price(SYMBOL, "98500")  # the top buy fills
    back = await _path(BACK, lambda: tick_bot(live.ctx, bot_id))

    assert out[0].endswith(".tick_bot") and back[0].endswith(".tick_bot")
    assert _show("out: step -> decision -> order recorded -> sent", out) <= MAX_HOPS_OUT
    assert _show("back: step -> fill reported -> recorded -> decision", back) <= MAX_HOPS_BACK
