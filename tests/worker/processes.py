"""Helpers for tests that run real AutoGrid processes (worker, beat, dev) as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from pathlib import Path

from autogrid.core.config import Settings

AUTOGRID = [sys.executable, "-m", "autogrid.cli"]
CELERY = [sys.executable, "-m", "celery"]


def process_env(**settings: str) -> dict[str, str]:
    """This process's environment without any AutoGrid setting, plus the given ones."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update({name.upper(): value for name, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def tail(log: Path, lines: int = 60) -> str:
    if not log.exists():
        return "(no output)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path, stop_timeout: float = 20
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a process for the block; SIGTERM then SIGKILL its whole group afterwards."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_group(process, stop_timeout)


# Processes already sent their SIGTERM (``all_running``): stop_group only waits for them, since a
# second SIGTERM could cut a clean exit short (beat releasing its lock).
_terminated: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()


@contextmanager
def all_running(
    *processes: AbstractContextManager[subprocess.Popen[bytes]],
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Several ``running`` processes for the block, stopped together afterwards: each gets its
    SIGTERM at once, so their shutdowns (a Celery worker's warm shutdown, beat's) overlap instead
    of running one after the other. Each is then waited for and swept as ``running`` does."""
    with ExitStack() as stack:
        started = [stack.enter_context(process) for process in processes]
        try:
            yield started
        finally:
            for process in started:
                terminate(process)


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group, once; ``stop_group`` then only waits and sweeps."""
    if process.poll() is None and process not in _terminated:
        _terminated.add(process)
        _signal_group(process.pid, signal.SIGTERM)


def stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        terminate(process)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    # Whatever is left of the group (pool processes) goes too; the group id is still ours
    # because only this helper created it.
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may contain spaces; fields after it are fixed.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def process_identity(pid: int) -> str | None:
    """Start time plus command line: tells a live process from a later one reusing its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie is dead, merely not collected yet
        return None
    return f"{fields[19]}:{cmdline!r}"


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").rstrip("\0").split("\0")
