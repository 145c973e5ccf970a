"""Test-only hooks for the runtime, read from the environment. Refused in production.

Crash-safety tests need a worker to die at an exact point of an order's placement, overlap tests
need to see when ticks run, and end-to-end tests point real ccxt at a local exchange simulator.
None of that may ever happen in production: ``RuntimeHooks.from_env`` ignores every one of these
variables when ``ENVIRONMENT=production`` (and says so in the log), so setting them there is
harmless.

- ``AUTOGRID_TEST_KILL_POINT``: ``before_send`` | ``after_send`` | ``before_ack_commit``; the
  process ``os._exit``s the first time an order submission reaches that point (see KillPoint).
- ``AUTOGRID_TEST_TICK_TRACE``: a file each tick appends ``start``/``end`` lines to (owner, time).
- ``AUTOGRID_TEST_TICK_SLEEP``: seconds a tick sleeps while holding the lease (widens races).
- ``AUTOGRID_TEST_EXCHANGE_URLS``: JSON ``{exchange_id: {api_url_name: url}}`` for ccxt.
- ``AUTOGRID_TEST_EXCHANGE_TIMEOUT_MS``: ccxt's request timeout.
- ``AUTOGRID_TEST_FAST_TIMINGS``: seconds instead of minutes for leases and unknown-order grace,
  so a test can watch a dead worker's bot being taken over and its orders resolved.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from autogrid.core.config import Settings

logger = logging.getLogger(__name__)

KILL_POINT_ENV = "AUTOGRID_TEST_KILL_POINT"
TICK_TRACE_ENV = "AUTOGRID_TEST_TICK_TRACE"
TICK_SLEEP_ENV = "AUTOGRID_TEST_TICK_SLEEP"
EXCHANGE_URLS_ENV = "AUTOGRID_TEST_EXCHANGE_URLS"
EXCHANGE_TIMEOUT_ENV = "AUTOGRID_TEST_EXCHANGE_TIMEOUT_MS"
FAST_TIMINGS_ENV = "AUTOGRID_TEST_FAST_TIMINGS"
ALL_ENV = (
    KILL_POINT_ENV,
    TICK_TRACE_ENV,
    TICK_SLEEP_ENV,
    EXCHANGE_URLS_ENV,
    EXCHANGE_TIMEOUT_ENV,
    FAST_TIMINGS_ENV,
)
# What a SIGKILLed process reports; the tests only need "died without cleaning up".
KILLED_EXIT_CODE = 137


class KillPoint(StrEnum):
    # NEW -> SUBMITTING is committed; create_order was not called.
    BEFORE_SEND = "before_send"
    # create_order returned: the exchange has the order; nothing of its answer was stored.
    AFTER_SEND = "after_send"
    # The answer is written in the open transaction, which dies uncommitted.
    BEFORE_ACK_COMMIT = "before_ack_commit"


@dataclass(frozen=True, slots=True)
class RuntimeHooks:
    kill_point: KillPoint | None = None
    tick_trace: Path | None = None
    tick_sleep: float = 0.0
    exchange_urls: Mapping[str, Mapping[str, str]] | None = None
    exchange_timeout_ms: int | None = None
    fast_timings: bool = False

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> RuntimeHooks:
        env = os.environ if environ is None else environ
        present = [name for name in ALL_ENV if env.get(name)]
        if not present:
            return NO_HOOKS
        if settings.is_production:
            logger.error("test-only settings are ignored in production: %s", ", ".join(present))
            return NO_HOOKS
        kill = env.get(KILL_POINT_ENV)
        trace = env.get(TICK_TRACE_ENV)
        urls = env.get(EXCHANGE_URLS_ENV)
        timeout = env.get(EXCHANGE_TIMEOUT_ENV)
        return cls(
            kill_point=KillPoint(kill) if kill else None,
            tick_trace=Path(trace) if trace else None,
            tick_sleep=float(env.get(TICK_SLEEP_ENV) or 0),
            exchange_urls=json.loads(urls) if urls else None,
            exchange_timeout_ms=int(timeout) if timeout else None,
            fast_timings=env.get(FAST_TIMINGS_ENV, "").lower() in {"1", "true", "yes"},
        )

    def kill(self, point: KillPoint) -> None:
        """Die here, now, without unwinding anything, if a test asked for this point."""
        if self.kill_point is point:
            logger.warning("test kill point %s reached: exiting", point)
            os._exit(KILLED_EXIT_CODE)

    def trace(self, what: str, owner: str, bot_id: object) -> None:
        if self.tick_trace is None:
            return
        line = f"{what} {owner} {bot_id} {time.time_ns()}\n"
        # O_APPEND writes of one short line are atomic: lines of several processes never mix.
        descriptor = os.open(self.tick_trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)


NO_HOOKS = RuntimeHooks()
