"""The supervisor behind ``autogrid dev``: crashed children come back, stubborn ones are killed."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from autogrid.cli.supervisor import Backoff, ChildSpec, Supervisor
from tests.worker.processes import process_identity, wait_until

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(f"{grandchild.pid}")
time.sleep(120)
"""


def test_a_dying_child_stops_the_others_including_stubborn_grandchildren(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    messages: list[str] = []
    supervisor = Supervisor(
        [
            ChildSpec("stubborn", [sys.executable, "-c", STUBBORN, str(pid_file)]),
            ChildSpec(
                "crasher",
                [
                    sys.executable,
                    "-c",
                    # Waits until the stubborn child has started its grandchild, then fails.
                    "import os, sys, time\n"
                    f"while not os.path.exists({str(pid_file)!r}): time.sleep(0.05)\n"
                    "time.sleep(0.2)\n"
                    "sys.exit(3)\n",
                ],
            ),
        ],
        stop_timeout=1.0,
        echo=messages.append,
    )
    started = time.monotonic()
    code = supervisor.run()
    elapsed = time.monotonic() - started

    assert code == 1
    assert "crasher exited unexpectedly (code 3); stopped the others" in messages
    assert "stubborn did not stop within 1s; killing it" in messages
    grandchild = int(pid_file.read_text())
    # Killed with its group; init reaps it, so allow a moment before it disappears.
    assert wait_until(lambda: process_identity(grandchild) is None, 5)
    assert elapsed < 10


CRASHER = """
import sys
with open(sys.argv[1], "a") as starts:
    starts.write("started\\n")
sys.exit(3)
"""
STEADY = """
import os, sys, time
with open(sys.argv[1], "a") as starts:
    starts.write(f"{os.getpid()}\\n")
time.sleep(120)
"""


def test_backoff_doubles_per_quick_crash_up_to_its_bound() -> None:
    backoff = Backoff(first_seconds=1, most_seconds=60)
    assert [backoff.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(10_000) == 60


def test_a_crashing_child_is_restarted_with_backoff_while_the_others_keep_running(
    tmp_path: Path,
) -> None:
    crasher_starts = tmp_path / "crasher.starts"
    steady_starts = tmp_path / "steady.starts"
    messages: list[str] = []
    supervisor = Supervisor(
        [
            ChildSpec("steady", [sys.executable, "-c", STEADY, str(steady_starts)]),
            ChildSpec("crasher", [sys.executable, "-c", CRASHER, str(crasher_starts)]),
        ],
        stop_timeout=5.0,
        echo=messages.append,
        restart=Backoff(first_seconds=0.1, most_seconds=0.4, stable_seconds=60),
    )

    def starts(log: Path) -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    def stop_after_five_crashes() -> None:
        # The crasher only starts once the supervisor's own SIGTERM handler is in place.
        if wait_until(lambda: len(starts(crasher_starts)) >= 5, 60):
            wait_until(lambda: sum("exited unexpectedly" in m for m in messages) >= 5, 60)
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_after_five_crashes)
    stopper.start()
    code = supervisor.run()
    stopper.join()

    assert code == 0, messages
    crashes = [m for m in messages if m.startswith("crasher exited unexpectedly (code 3)")]
    delays = [m.rsplit("restarting it in ", 1)[1] for m in crashes]
    assert delays[:5] == ["0.1s", "0.2s", "0.4s", "0.4s", "0.4s"], messages
    assert "crasher restarted (pid" in "\n".join(messages)
    assert not any(m.startswith("steady") for m in messages), messages
    # The steady child was started once, ran throughout, and was stopped with the rest.
    [steady_pid] = starts(steady_starts)
    assert wait_until(lambda: process_identity(int(steady_pid)) is None, 10)
