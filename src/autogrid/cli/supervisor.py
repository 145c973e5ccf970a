"""Run a few child processes as one unit: all stop together, none is left behind.

A child that dies on its own is either restarted after a bounded exponential backoff (with a
:class:`Backoff`, as ``autogrid dev`` does: one crashed worker must not take the API down) or,
without one, stops the others and fails the run. The backoff doubles while a child keeps dying
soon after its start, so a child that cannot start costs a restart a minute, not a busy CPU; it
starts over once the child has stayed up for a while.

Each child gets its own session (process group), so a Ctrl-C at the terminal reaches only the
supervisor, which then stops every child exactly once: a second SIGINT would make Celery skip its
warm shutdown. Stopping is SIGTERM to each child, a bounded wait, then SIGKILL to its whole group
(catching grandchildren such as pool processes). On Linux a child also gets SIGTERM if the
supervisor itself is killed outright, so even ``kill -9`` leaves no orphans running.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class ChildSpec:
    name: str
    argv: Sequence[str]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays before restarting a dead child: ``first`` doubling per quick crash, up to ``most``.

    A crash after ``stable_seconds`` of uptime counts as the first again.
    """

    first_seconds: float = 1.0
    most_seconds: float = 60.0
    stable_seconds: float = 60.0

    def delay(self, quick_crashes: int) -> float:
        doublings = min(max(quick_crashes - 1, 0), 32)  # bounded, and no float overflow
        return min(self.first_seconds * float(2**doublings), self.most_seconds)


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]
    started_at: float
    reaped_code: int | None = field(default=None)
    # Crashes in a row, each soon after its start; picks the next backoff delay.
    quick_crashes: int = 0
    restarts: int = 0
    restart_at: float | None = None


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def set_parent_death_signal() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def _exit_code_without_reaping(pid: int) -> int | None:
    """The exit status of a finished child, leaving it a zombie so its pid (and group) stay ours."""
    try:
        status = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if status is None:
        return None
    return status.si_status if status.si_code == os.CLD_EXITED else -status.si_status


class Supervisor:
    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        stop_timeout: float = 10.0,
        env: dict[str, str] | None = None,
        echo: Callable[[str], None] = print,
        restart: Backoff | None = None,
    ) -> None:
        self._specs = list(children)
        self._restart = restart
        self._stop_timeout = stop_timeout
        self._env = env
        self._echo = echo
        self._children: list[_Child] = []
        self._stop_requested: int | None = None

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_requested = signum

    def run(self) -> int:
        """Start every child and supervise; 0 after a requested stop, 1 if a child died.

        With a restart backoff a dead child is restarted, so only a requested stop ends the run.
        """
        previous = {
            sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self._start_all()
            failed = self._watch()
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed is not None:
            self._echo(
                f"{failed.spec.name} exited unexpectedly (code {failed.reaped_code}); "
                "stopped the others"
            )
            return 1
        return 0

    def _spawn(self, spec: ChildSpec) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            list(spec.argv),
            env=self._env,
            start_new_session=True,
            # preexec_fn is unsafe with threads; the supervisor starts none.
            preexec_fn=_die_with_parent(os.getpid()),
        )

    def _start_all(self) -> None:
        for spec in self._specs:
            if self._stop_requested is not None:
                return
            self._children.append(_Child(spec, self._spawn(spec), time.monotonic()))

    def _watch(self) -> _Child | None:
        """Supervise until a stop is requested; the dead child when there is no restarting."""
        while self._stop_requested is None:
            for child in self._children:
                if self._stop_requested is not None:
                    break
                now = time.monotonic()
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self._start_again(child)
                    continue
                code = _exit_code_without_reaping(child.process.pid)
                if code is None:
                    continue
                self._sweep_and_reap(child)
                if self._restart is None:
                    return child
                self._schedule_restart(child, self._restart, now)
            time.sleep(POLL_SECONDS)
        return None

    def _schedule_restart(self, child: _Child, backoff: Backoff, now: float) -> None:
        uptime = now - child.started_at
        child.quick_crashes = 1 if uptime >= backoff.stable_seconds else child.quick_crashes + 1
        delay = backoff.delay(child.quick_crashes)
        child.restart_at = now + delay
        self._echo(
            f"{child.spec.name} exited unexpectedly (code {child.reaped_code}) after "
            f"{uptime:.0f}s; restarting it in {delay:g}s"
        )

    def _start_again(self, child: _Child) -> None:
        child.process = self._spawn(child.spec)
        child.started_at = time.monotonic()
        child.reaped_code = None
        child.restart_at = None
        child.restarts += 1
        self._echo(
            f"{child.spec.name} restarted (pid {child.process.pid}, restart {child.restarts})"
        )

    def stop_all(self) -> None:
        running = [child for child in self._children if child.reaped_code is None]
        for child in running:
            self._signal(child, signal.SIGTERM, whole_group=False)
        deadline = time.monotonic() + self._stop_timeout
        while running and time.monotonic() < deadline:
            for child in list(running):
                if _exit_code_without_reaping(child.process.pid) is not None:
                    self._sweep_and_reap(child)
                    running.remove(child)
            if running:
                time.sleep(POLL_SECONDS)
        for child in running:
            self._echo(f"{child.spec.name} did not stop within {self._stop_timeout:g}s; killing it")
            self._sweep_and_reap(child)

    def _signal(self, child: _Child, signum: int, *, whole_group: bool) -> None:
        # os.kill rather than Popen.send_signal, which would reap a finished child.
        try:
            if whole_group:
                os.killpg(child.process.pid, signum)
            else:
                os.kill(child.process.pid, signum)
        except ProcessLookupError:
            pass

    def _sweep_and_reap(self, child: _Child) -> None:
        """Kill whatever is left in the child's group, then collect the child's exit status.

        The child is not reaped yet at this point (zombie or running), so its pid, which is also
        its group id, cannot have been reused by an unrelated process.
        """
        self._signal(child, signal.SIGKILL, whole_group=True)
        child.reaped_code = child.process.wait()
