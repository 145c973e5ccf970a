"""The chaos itself: for a fixed time, walk the price path, inject the simulator's faults and
``kill -9`` the API, the workers and beat at random, restarting each after a short while.

Everything is drawn from one seeded ``random.Random``, so a run's schedule can be repeated (the
processes' own timing still varies). The loop is bounded by its end time, and so is every wait.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.exchange_sim import SimulatorClient, SimulatorControlError

from chaoskit.processes import ManagedProcess

SYMBOL = "BTC/USDT"
# Longer than the platform's ccxt timeout (10 s): the request times out on our side.
CLIENT_TIMEOUT_DELAY = 12.0
# The exchange clock this far behind ours makes every signed request -1021 (recvWindow 10 s).
CLOCK_SKEW_MS = -30_000

# (label, inject_fault arguments): every kind faults.py offers, in each of its variants.
FAULTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("timeout, executed first", {"kind": "delay", "seconds": CLIENT_TIMEOUT_DELAY}),
    # Executed after the delay, which is past ccxt's recvWindow (10 s): refused with -1021 then,
    # so the order never exists; the client saw a timeout (an unknown outcome).
    (
        "timeout, stale on arrival (never executed)",
        {"kind": "delay", "seconds": CLIENT_TIMEOUT_DELAY, "delay_before_execute": True},
    ),
    ("slow answer (2 s)", {"kind": "delay", "seconds": 2.0}),
    ("connection dropped after executing", {"kind": "accepted_response_lost"}),
    ("504 after executing", {"kind": "accepted_response_lost", "lost_as": "504"}),
    ("500, not executed", {"kind": "http_error", "status": 500}),
    ("502, not executed", {"kind": "http_error", "status": 502}),
    ("503, not executed", {"kind": "http_error", "status": 503}),
    ("503, executed", {"kind": "http_error", "status": 503, "execute": True}),
    ("429 rate limit", {"kind": "rate_limit", "retry_after": 1}),
    ("418 IP ban", {"kind": "ip_ban", "retry_after": 2}),
    ("-1021 timestamp", {"kind": "timestamp"}),
)
# Order entry is where a fault costs money: weighted towards it.
ENDPOINTS: tuple[str, ...] = (
    "POST /api/v3/order",
    "POST /api/v3/order",
    "POST /api/v3/order",
    "DELETE /api/v3/order",
    "DELETE /api/v3/order",
    "GET /api/v3/order",
    "GET /api/v3/order",
    "GET /api/v3/myTrades",
    "GET /api/v3/openOrders",
    "GET /api/v3/account",
    "*",
)


@dataclass
class ChaosSettings:
    minutes: float
    step_seconds: float = 0.5  # one price point (a quarter candle) this often
    fault_every: float = 3.0  # mean seconds between injected faults
    kill_every: float = 20.0  # mean seconds between kills
    restart_after: tuple[float, float] = (1.0, 8.0)  # seconds a killed process stays dead
    skew_every: float = 90.0  # mean seconds between clock-skew episodes
    skew_length: tuple[float, float] = (2.0, 6.0)


@dataclass
class ChaosLog:
    faults: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)  # died without being killed
    skews: int = 0
    price_steps: int = 0
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def note(self, started: float, text: str) -> None:
        self.lines.append(f"{time.monotonic() - started:8.1f}s {text}")


class Chaos:
    def __init__(
        self,
        settings: ChaosSettings,
        rng: random.Random,
        sim: SimulatorClient,
        processes: Sequence[ManagedProcess],
        path: list[Decimal],
        on_tick: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.rng = rng
        self.sim = sim
        self.processes = list(processes)
        self.path = path
        self.on_tick = on_tick
        self.log = ChaosLog()
        self.restarts: dict[str, float] = {}  # process name -> when to start it again

    def run(self) -> ChaosLog:
        s = self.settings
        started = time.monotonic()
        end = started + s.minutes * 60
        next_step = started
        next_fault = started + self.rng.expovariate(1 / s.fault_every)
        next_kill = started + self.rng.expovariate(1 / s.kill_every)
        next_skew = started + self.rng.expovariate(1 / s.skew_every)
        skew_ends: float | None = None
        while (now := time.monotonic()) < end:
            if now >= next_step and self.log.price_steps < len(self.path):
                self._control("set_price", symbol=SYMBOL, price=self.path[self.log.price_steps])
                self.log.price_steps += 1
                next_step += s.step_seconds
            if now >= next_fault:
                self._fault(started)
                next_fault = now + self.rng.expovariate(1 / s.fault_every)
            if now >= next_kill:
                self._kill(started, now)
                next_kill = now + self.rng.expovariate(1 / s.kill_every)
            if skew_ends is None and now >= next_skew:
                self._control("set_clock_offset", offset_ms=CLOCK_SKEW_MS)
                self.log.skews += 1
                self.log.note(started, f"exchange clock {CLOCK_SKEW_MS} ms")
                skew_ends = now + self.rng.uniform(*s.skew_length)
            if skew_ends is not None and now >= skew_ends:
                self._control("set_clock_offset", offset_ms=0)
                self.log.note(started, "exchange clock back")
                skew_ends = None
                next_skew = now + self.rng.expovariate(1 / s.skew_every)
            self._restart_due(started, now)
            if self.on_tick is not None:
                self.on_tick(now - started)
            time.sleep(0.05)
        self.calm_down(started)
        return self.log

    def calm_down(self, started: float) -> None:
        """No fault left, the clock right, every process running again."""
        self._control("clear_faults")
        self._control("set_clock_offset", offset_ms=0)
        for process in self.processes:
            if not process.alive:
                process.start()
                self.log.note(started, f"started {process.name} (end of chaos)")
        self.restarts.clear()

    def _fault(self, started: float) -> None:
        label, arguments = self.rng.choice(FAULTS)
        endpoint = self.rng.choice(ENDPOINTS)
        times = self.rng.choice((1, 1, 1, 2, 3))
        if self._control("inject_fault", endpoint=endpoint, times=times, **arguments) is not None:
            self.log.faults[label] += 1
            self.log.note(started, f"fault {label} x{times} on {endpoint}")

    def _kill(self, started: float, now: float) -> None:
        alive = [p for p in self.processes if p.alive]
        if not alive:
            return
        victim = self.rng.choice(alive)
        victim.kill()
        self.log.kills[victim.name] += 1
        self.restarts[victim.name] = now + self.rng.uniform(*self.settings.restart_after)
        self.log.note(started, f"kill -9 {victim.name}")

    def _restart_due(self, started: float, now: float) -> None:
        for process in self.processes:
            if process.name not in self.restarts and not process.alive:
                code = process.process.returncode if process.process else None
                self.log.crashes[process.name] += 1
                self.log.note(started, f"{process.name} died by itself (exit {code}): restarting")
                self.restarts[process.name] = now + 1.0
            due = self.restarts.get(process.name)
            if due is not None and now >= due:
                process.start()
                del self.restarts[process.name]
                self.log.note(started, f"restarted {process.name}")

    def _control(self, operation: str, **arguments: Any) -> Any:
        try:
            return self.sim.call(operation, **arguments)
        except (SimulatorControlError, OSError) as error:
            self.log.errors.append(f"{operation}: {error}")
            return None
