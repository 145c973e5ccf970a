"""The supervisor behind ``autogrid dev``: one child failing stops all, stubborn ones are killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from autogrid.cli.supervisor import ChildSpec, Supervisor
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
