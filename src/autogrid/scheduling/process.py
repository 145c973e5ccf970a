"""One runtime per worker process: an event loop and a RuntimeContext that outlive each task.

``autogrid.worker.base.run_async`` gives every task a fresh loop and a fresh (unpooled) engine,
which is right for occasional jobs. Ticks are the opposite: hundreds per second on one process,
each a handful of short queries and exchange calls; a new connection, ccxt instance and strategy
per tick would cost more than the tick. So runtime tasks run on a loop kept for the life of the
process, with a pooled engine and the connector pool on it.

Keyed by process and thread: a prefork child never reuses its parent's loop or connections (they
do not survive ``fork``), and each thread of a threads pool (the embedded ``autogrid dev`` worker)
gets its own loop, since one loop cannot run two tasks' ``run_until_complete`` at once.

A program that embeds the worker and needs connectors of its own (a recording proxy, fault
injection in tests) installs its own way to build the context with ``use_context_builder``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

from autogrid.core.config import Settings
from autogrid.engine.context import RuntimeContext

logger = logging.getLogger(__name__)

T = TypeVar("T")

ContextBuilder = Callable[[Settings], RuntimeContext]

_builder: ContextBuilder = RuntimeContext.create
_runtimes: dict[tuple[int, int], tuple[asyncio.AbstractEventLoop, RuntimeContext]] = {}
_runtimes_lock = threading.Lock()


def _current(settings: Settings) -> tuple[asyncio.AbstractEventLoop, RuntimeContext]:
    key = (os.getpid(), threading.get_ident())
    with _runtimes_lock:
        found = _runtimes.get(key)
        if found is not None:
            return found
        # Runtimes of another process were inherited through fork: never use or close them here.
        for stale in [k for k in _runtimes if k[0] != key[0]]:
            del _runtimes[stale]
        loop = new_runtime_loop()
        context = _builder(settings)
        _runtimes[key] = (loop, context)
    logger.info("bot runtime ready in process %s (lease owner %s)", os.getpid(), context.owner)
    return loop, context


def new_runtime_loop() -> asyncio.AbstractEventLoop:
    """uvloop: a batch of quiet ticks spends much of its time in the event loop and its sockets
    (every tick is a few short database round trips), which uvloop runs in C."""
    return uvloop.new_event_loop()


def use_context_builder(builder: ContextBuilder) -> None:
    """Build this process's runtime contexts with ``builder`` (``RuntimeContext.create`` by
    default). For the embedding program, before the first task runs: contexts built already
    are kept."""
    global _builder
    _builder = builder


def run_in_runtime(
    settings: Settings, work: Callable[[RuntimeContext], Coroutine[Any, Any, T]]
) -> T:
    """Run ``work(context)`` to completion on this process's runtime loop."""
    loop, context = _current(settings)
    return loop.run_until_complete(work(context))


def shutdown_runtime() -> None:
    """Close connectors, Redis and the engines of this process's runtimes (worker shutdown,
    when no task is running any more)."""
    with _runtimes_lock:
        mine = [key for key in _runtimes if key[0] == os.getpid()]
        closing = [_runtimes.pop(key) for key in mine]
    for loop, context in closing:
        try:
            loop.run_until_complete(context.close())
        finally:
            loop.close()
